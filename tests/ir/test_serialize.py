"""The .snnir format: exact round trip, determinism, version checks, and the text form's stability."""

import numpy as np
import pytest

import snncc
from snncc.ir import (ConstRef, Dense, FormatError, Graph, IFNeuron, Input, TensorType, from_bytes, load, save,
                      to_bytes, to_text, verify, VerifyError)
from snncc.ir import snnir_pb2
from snncc.ir.serialize import FORMAT_MAJOR


def small_graph():
    rng = np.random.default_rng(0)
    consts = {"w": rng.standard_normal((3, 4)).astype(np.float32), "theta": np.array([0.5, 1.0, 2.0], np.float32)}
    nodes = [Input(name="x", type=TensorType((4,))),
             Dense(name="fc", inputs=("x",), type=TensorType((3,)), weight=ConstRef("w")),
             IFNeuron(name="if", inputs=("fc",), type=TensorType((3,)), theta=ConstRef("theta"), v0=0.5)]
    return Graph.build(nodes, ("if",), consts, {"coding": "rate", "pipeline": "x"})


def test_round_trip_is_exact(tmp_path):
    g = small_graph()
    path = tmp_path / "g.snnir"
    save(g, path)
    back = load(path)
    assert back.nodes == g.nodes
    assert back.outputs == g.outputs and dict(back.meta) == dict(g.meta)
    for name in g.constants:
        assert back.constants[name].dtype == g.constants[name].dtype
        assert back.constants[name].tobytes() == g.constants[name].tobytes()
    assert to_bytes(back) == to_bytes(g)
    assert to_text(back) == to_text(g)


def test_newer_major_version_is_refused():
    msg = snnir_pb2.Graph()
    msg.ParseFromString(to_bytes(small_graph()))
    msg.format_major = FORMAT_MAJOR + 1
    with pytest.raises(FormatError, match="newer"):
        from_bytes(msg.SerializeToString())


def test_truncated_and_garbage_files_are_format_errors():
    data = to_bytes(small_graph())
    for bad in (data[: len(data) // 2], b"\x00\x01garbage" * 7, b""):
        with pytest.raises(FormatError):
            from_bytes(bad)


def test_compile_is_deterministic(tmp_path):
    x = np.load("models/data/digits_calib.npz")["x"]
    a = snncc.compile("models/digits_mlp.onnx", calibration=x)
    b = snncc.compile("models/digits_mlp.onnx", calibration=x)
    assert to_bytes(a) == to_bytes(b)
    assert to_text(a) == to_text(b)


def test_text_form_lists_nodes_and_hashes_large_tensors():
    text = to_text(small_graph())
    assert "%fc = dense %x {weight=@w, bias=none, axis=-1} : f32[3]" in text
    assert "@theta = f32[3] [0.5,1.0,2.0]" in text
    assert text.startswith("snnir 1.0\ncoding \"rate\"\npipeline \"x\"\n")


def test_verify_names_the_node_on_shape_mismatch():
    g = small_graph()
    bad = g.with_(nodes=[g.nodes[0], g.nodes[1].replace(type=TensorType((5,))), g.nodes[2]])
    with pytest.raises(VerifyError, match="%fc"):
        verify(bad)
