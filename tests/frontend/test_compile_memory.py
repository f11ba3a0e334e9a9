"""Compiler memory: large weights stay out of the checker, shape inference and folding; the imported graph is freed
once the first pass rewrote it; weights stay one float32 array each; the file is written one constant at a time."""

import gc
import weakref

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import snncc
import snncc.compiler as compiler
from snncc.frontend import onnx_to_ir
from snncc.frontend.load import load_onnx
from snncc.frontend.weight_stash import MIN_STASHED_ELEMENTS
from snncc.ir import to_bytes, to_chunks
from snncc.ir.serialize import to_proto
from snncc.passes import PassResult
from snncc.passes.registry import PASS_REGISTRY, register_pass
from snncc.pipeline import rate_pipeline

DATA_FREE = rate_pipeline().replace("calibrate,", "")


def _model(path):
    """x[1,1,8,8] -> Conv 1->16 + BatchNormalization + Clip(0,6) -> Flatten -> Gemm 1024->64 (65536 weights, stashed)
    -> Clip(0,6) -> Gemm 64->10, and a Reshape whose shape is folded."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in [
        ("w1", rng.normal(0, .3, (16, 1, 3, 3))), ("g", rng.uniform(.5, 1.5, 16)), ("b", rng.normal(0, .1, 16)),
        ("m", rng.normal(0, .1, 16)), ("v", rng.uniform(.5, 1.5, 16)), ("w2", rng.normal(0, .05, (64, 1024))),
        ("w3", rng.normal(0, .1, (10, 64))), ("zero", np.array(0)), ("six", np.array(6))]]
    inits.append(numpy_helper.from_array(np.array([1, -1], np.int64), "flat"))
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"]),
             helper.make_node("Clip", ["n", "zero", "six"], ["r"]),
             helper.make_node("Reshape", ["r", "flat"], ["f"]),
             helper.make_node("Gemm", ["f", "w2"], ["h"], transB=1),
             helper.make_node("Clip", ["h", "zero", "six"], ["hr"]),
             helper.make_node("Gemm", ["hr", "w3"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def _initializer_elements(model: onnx.ModelProto) -> int:
    return max(int(np.prod(t.dims)) for t in model.graph.initializer)


def test_checker_and_shape_inference_never_see_the_large_weights(tmp_path, monkeypatch):
    seen = []
    check, infer = onnx.checker.check_model, onnx.shape_inference.infer_shapes
    monkeypatch.setattr(onnx.checker, "check_model", lambda m, *a, **k: (seen.append(_initializer_elements(m)),
                                                                         check(m, *a, **k))[1])
    monkeypatch.setattr(onnx.shape_inference, "infer_shapes", lambda m, *a, **k: (
        seen.append(_initializer_elements(m)), infer(m, *a, **k))[1])
    model = load_onnx(_model(tmp_path / "m.onnx"))
    assert len(seen) == 3 and max(seen) <= MIN_STASHED_ELEMENTS     # checker + inference twice, weights set aside
    assert _initializer_elements(model) == 64 * 1024                   # and back in the prepared model
    assert [i.name for i in model.graph.input] == ["x"]


def test_stashed_weights_convert_to_the_same_graph(tmp_path, monkeypatch):
    path = _model(tmp_path / "m.onnx")
    stashed = to_bytes(onnx_to_ir(load_onnx(path)))
    monkeypatch.setattr("snncc.frontend.weight_stash.MIN_STASHED_ELEMENTS", 10 ** 9)   # nothing set aside
    assert to_bytes(onnx_to_ir(load_onnx(path))) == stashed


def test_weights_are_one_read_only_float32_array_each(tmp_path):
    graph = onnx_to_ir(load_onnx(_model(tmp_path / "m.onnx")))
    for name, array in graph.constants.items():
        assert not array.flags.writeable and array.dtype != np.float64, name
    # Graph.build keeps a read-only array as is: rebuilding shares every weight instead of copying it
    again = graph.with_(meta={"x": "1"})
    assert all(again.constants[n] is a for n, a in graph.constants.items())


@pytest.fixture
def probe():
    """A pass that records whether the graph onnx_to_ir made inside snncc.compile is still alive."""
    states = []

    @register_pass("probe-imported-alive")
    def _probe(graph, ctx):
        gc.collect()
        states.append(probe.imported() is not None)
        return PassResult(graph, False)

    probe = type("Probe", (), {"states": states, "imported": staticmethod(lambda: None)})
    yield probe
    del PASS_REGISTRY["probe-imported-alive"]


def test_the_imported_graph_is_freed_once_rewritten(tmp_path, monkeypatch, probe):
    convert = compiler.onnx_to_ir

    def recording(model):
        graph = convert(model)
        probe.imported = weakref.ref(graph)
        return graph
    monkeypatch.setattr(compiler, "onnx_to_ir", recording)
    graph = snncc.compile(_model(tmp_path / "m.onnx"), coding="rate",
                          pipeline=DATA_FREE + ",probe-imported-alive")
    # the pre-flight check runs the probe while compile still needs the imported graph; the pass manager after
    # fold-bn rewrote it must find it gone (compile, the manager and the passes hold no reference to it)
    assert probe.states == [True, False]
    assert all(a.dtype == np.float32 for a in graph.constants.values() if a.dtype.kind == "f")


def test_chunks_are_the_message_bytes(tmp_path):
    graph = snncc.compile(_model(tmp_path / "m.onnx"), coding="rate", pipeline=DATA_FREE)
    chunks = list(to_chunks(graph))
    assert len(chunks) == len(graph.constants) + 1
    assert b"".join(chunks) == to_proto(graph).SerializeToString(deterministic=True)
