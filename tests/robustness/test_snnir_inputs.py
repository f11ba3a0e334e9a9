"""Broken .snnir files: newer format versions, corruption, truncation, malformed graphs and huge declared shapes
are FormatError / ResourceLimitError, and `snncc inspect` / `eval` fail with exit 2 and one message."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.errors import FormatError, ResourceLimitError, SnnccError
from snncc.ir import ConstRef, Dense, Graph, IFNeuron, Input, TensorType, from_bytes, load, snnir_pb2, to_bytes
from snncc.ir.serialize import FORMAT_MAJOR
from tests.robustness.util import assert_clean_failure, run_cli


def small_graph() -> Graph:
    consts = {"w": np.ones((3, 4), np.float32), "theta": np.array([0.5, 1.0, 2.0], np.float32)}
    nodes = [Input(name="x", type=TensorType((4,))),
             Dense(name="fc", inputs=("x",), type=TensorType((3,)), weight=ConstRef("w")),
             IFNeuron(name="if", inputs=("fc",), type=TensorType((3,)), theta=ConstRef("theta"), v0=0.5)]
    return Graph.build(nodes, ("if",), consts, {"coding": "rate", "timesteps": "4"})


def _message() -> snnir_pb2.Graph:
    msg = snnir_pb2.Graph()
    msg.ParseFromString(to_bytes(small_graph()))
    return msg


def test_format_error_is_a_snncc_error_and_a_value_error():
    assert issubclass(FormatError, SnnccError) and issubclass(FormatError, ValueError)


def test_a_newer_format_version(tmp_path, capsys):
    msg = _message()
    msg.format_major = FORMAT_MAJOR + 1
    path = tmp_path / "new.snnir"
    path.write_bytes(msg.SerializeToString())
    code, out, err = run_cli(capsys, "inspect", path)
    assert_clean_failure(code, err, "new.snnir", f"format version {FORMAT_MAJOR + 1}.", "upgrade snncc")
    assert out == ""


def test_truncated_files(tmp_path, capsys):
    data = to_bytes(small_graph())
    for cut in (1, 7, len(data) // 2, len(data) - 1):
        with pytest.raises(FormatError):
            from_bytes(data[:cut])
    (tmp_path / "cut.snnir").write_bytes(data[: len(data) // 2])
    code, _, err = run_cli(capsys, "eval", tmp_path / "cut.snnir", "--data", "models/data/digits_test.npz")
    assert_clean_failure(code, err, "cut.snnir")


def test_every_single_byte_corruption_is_caught_or_harmless():
    data = to_bytes(small_graph())
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0x5A
        try:
            from_bytes(bytes(flipped))
        except SnnccError:
            pass


@pytest.mark.parametrize("mutate, message", [
    (lambda m: setattr(m.nodes[1], "op", "warp_drive"), "warp_drive"),
    (lambda m: m.nodes[1].inputs.__setitem__(0, "ghost"), "ghost"),
    (lambda m: m.nodes[2].type.shape.__setitem__(0, 7), "%if"),
    (lambda m: m.constants[0].shape.__setitem__(0, 9), "@theta"),
    (lambda m: setattr(m.constants[1], "dtype", "c128"), "unknown dtype"),
    (lambda m: m.outputs.__setitem__(0, "nowhere"), "nowhere"),
    (lambda m: m.ClearField("nodes"), "no nodes"),
    (lambda m: m.constants[0].shape.extend([1 << 32, 1 << 32]), "@theta"),
    (lambda m: setattr(m.nodes[2].attributes[2], "string_value", "half"), "v0='half' is not of type float"),
    (lambda m: setattr(m.nodes[1].attributes[1], "int_value", 1), "bias=1 is not of type ConstRef | None"),
])
def test_malformed_graphs_name_the_culprit(mutate, message):
    msg = _message()
    mutate(msg)
    with pytest.raises(FormatError, match=message):
        from_bytes(msg.SerializeToString())


def test_a_huge_declared_node_shape_is_refused_before_allocating():
    msg = _message()
    msg.nodes[0].type.shape[:] = [1 << 20, 1 << 20]
    with pytest.raises(ResourceLimitError, match="%x"):
        from_bytes(msg.SerializeToString())


def test_missing_and_non_regular_files(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        load(tmp_path / "nope.snnir")
    with pytest.raises(FormatError, match="not a regular file"):
        load(tmp_path)


@pytest.mark.parametrize("value", ["abc", "-3", "0", "100000000000", "1e9", "\u0663"])
def test_a_header_cannot_ask_for_absurd_time_steps(tmp_path, capsys, value):
    # eval simulates the header's T by default: 10^11 steps would be a hang, "abc" a crash
    msg = _message()
    for entry in msg.meta:
        if entry.key == "timesteps":
            entry.value = value
    (tmp_path / "t.snnir").write_bytes(msg.SerializeToString())
    np.savez(tmp_path / "d.npz", x=np.ones((3, 4), np.float32))
    code, _, err = run_cli(capsys, "eval", tmp_path / "t.snnir", "--data", tmp_path / "d.npz", "--no-progress")
    assert_clean_failure(code, err, "timesteps=", "--timesteps")
    code, _, err = run_cli(capsys, "map", tmp_path / "t.snnir", "--profile", "generic", "-o", tmp_path / "m.json",
                           "--calib", tmp_path / "d.npz")
    assert_clean_failure(code, err, "timesteps=")


@pytest.mark.parametrize("edit, message", [
    (("v0=0.5", 'v0="abc"'), "v0='abc' is not of type float"),
    (("bias=none", "bias=1"), "bias=1 is not of type ConstRef | None"),
    (("%if = if_neuron %fc", "%if = if_neuron %x"), "%if"),
])
def test_a_broken_text_form_is_refused_by_every_command(tmp_path, capsys, edit, message):
    from snncc.ir.text import to_text

    text = to_text(small_graph(), full=True)
    assert edit[0] in text
    (tmp_path / "g.txt").write_text(text.replace(edit[0], edit[1], 1))
    for args in (["export", tmp_path / "g.txt", "--format", "text", "-o", tmp_path / "o.txt"],
                 ["map", tmp_path / "g.txt", "--profile", "generic", "-o", tmp_path / "o.json"],
                 ["diff", tmp_path / "g.txt", tmp_path / "g.txt"]):
        code, _, err = run_cli(capsys, *args)
        assert_clean_failure(code, err, "g.txt", message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.txt"]
