"""Semantic diff of compiled graphs: what changed, node by node, the tolerance, and `snncc diff`'s exit codes."""

import numpy as np
import pytest

from snncc.cli import main
from snncc.ir import ConstRef, Dense, Graph, IFNeuron, Input, TensorType, save, to_text
from snncc.ir.diff import diff
from snncc.ir.parse import parse


def graph(w=None, theta=(0.5, 1.0, 2.0), v0=0.5, meta=None, extra=False, outputs=("if",)):
    rng = np.random.default_rng(0)
    consts = {"w": rng.standard_normal((3, 20)).astype(np.float32) if w is None else w,
              "theta": np.array(theta, np.float32)}
    nodes = [Input(name="x", type=TensorType((20,))),
             Dense(name="fc", inputs=("x",), type=TensorType((3,)), weight=ConstRef("w")),
             IFNeuron(name="if", inputs=("fc",), type=TensorType((3,)), theta=ConstRef("theta"), v0=v0)]
    if extra:
        consts["w2"] = np.ones((2, 3), np.float32)
        nodes.append(Dense(name="head", inputs=("if",), type=TensorType((2,)), weight=ConstRef("w2")))
    return Graph.build(nodes, outputs, consts, meta or {"coding": "rate", "pipeline": "lower-rate{v0=half}"})


def test_equal_graphs_have_no_differences():
    d = diff(graph(), graph())
    assert d.equal
    assert d.format("a", "b") == "--- a\n+++ b\nno differences\n"


def test_changed_attribute_and_tensor_are_summarised():
    w = graph().constants["w"].copy()
    w[0, :5] += 0.25
    w[2, 7] -= 1.5
    d = diff(graph(), graph(w=w, v0=0.0))
    assert not d.equal
    text = d.format("old", "new")
    assert "  ~ %fc (dense)\n      weight @w: f32[3,20], 6 of 60 elements differ, max |diff| 1.5\n" in text
    assert "  ~ %if (if_neuron)\n      v0: 0.5 -> 0.0\n" in text
    assert text.endswith("summary: 0 removed, 0 added, 2 changed nodes\n")


def test_tolerance_treats_tiny_float_changes_as_equal():
    base = graph()
    w = base.constants["w"] + np.float32(1e-6)
    nudged = graph(w=w, theta=(0.5, 1.0, 2.0000002), v0=0.5 + 1e-9)
    assert not diff(base, nudged).equal
    assert diff(base, nudged, tolerance=1e-5).equal
    # a change above the tolerance is still reported, with the count of elements beyond it
    w[1, 1] += 0.5
    d = diff(base, graph(w=w), tolerance=1e-5)
    assert [str(t) for c in d.changed for t in c.tensors] == ["weight @w: f32[3,20], 1 of 60 elements differ, "
                                                              "max |diff| 0.500001"]


def test_added_removed_nodes_header_and_outputs():
    old = graph(meta={"coding": "rate", "pipeline": "a", "source": "m.onnx"})
    new = graph(meta={"coding": "rate", "pipeline": "b", "timesteps": "32"}, extra=True, outputs=("head",))
    text = diff(old, new).format("old", "new")
    assert text == (
        "--- old\n+++ new\n"
        "header:\n"
        '  ~ pipeline: "a" -> "b"\n'
        '  - source "m.onnx"\n'
        '  + timesteps "32"\n'
        "nodes:\n"
        "  + %head = dense %if {weight=@w2, bias=none, axis=-1} : f32[2]\n"
        "outputs: %if -> %head\n"
        "summary: 0 removed, 1 added, 0 changed nodes, 3 header entries differ, outputs differ\n")
    back = diff(new, old).format("new", "old")
    assert "  - %head = dense %if {weight=@w2, bias=none, axis=-1} : f32[2]\n" in back
    assert diff(old, new, ignore_header=("pipeline", "source", "timesteps")).header == []


def test_shape_change_and_hashed_text_are_reported():
    rng = np.random.default_rng(5)
    other = rng.standard_normal((3, 20)).astype(np.float32)
    # a hashed text form compares by digest: equal to its binary, different from a changed tensor
    assert diff(graph(), parse(to_text(graph()))).equal
    d = diff(parse(to_text(graph())), graph(w=other))
    (change,) = d.changed
    assert "contents differ (sha256:" in str(change.tensors[0])
    d = diff(graph(), graph(theta=(0.5, 1.0)))
    assert [str(t) for t in d.changed[0].tensors] == ["theta @theta: f32[3] -> f32[2]"]


def test_report_is_deterministic():
    w = graph().constants["w"] * 2
    a = diff(graph(), graph(w=w, v0=0.1, extra=True)).format("a", "b")
    b = diff(graph(), graph(w=w, v0=0.1, extra=True)).format("a", "b")
    assert a == b


def test_cli_exit_codes(tmp_path, capsys):
    a, b, t = tmp_path / "a.snnir", tmp_path / "b.snnir", tmp_path / "a.txt"
    save(graph(), a)
    save(graph(v0=0.0), b)
    t.write_text(to_text(graph()))
    assert main(["diff", str(a), str(t), "--exit-code"]) == 0
    assert "no differences" in capsys.readouterr().out
    assert main(["diff", str(a), str(b), "--exit-code"]) == 1
    assert "v0: 0.5 -> 0.0" in capsys.readouterr().out
    assert main(["diff", str(a), str(b)]) == 0          # without --exit-code a difference is not a failure
    capsys.readouterr()
    assert main(["diff", str(a), str(tmp_path / "missing.snnir"), "--exit-code"]) == 2
    assert main(["diff", str(a), str(b), "--tolerance", "-1"]) == 2
    garbage = tmp_path / "g.snnir"
    garbage.write_bytes(b"\x00\x01garbage")
    assert main(["diff", str(a), str(garbage), "--exit-code"]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "g.snnir" in err


@pytest.mark.parametrize("tolerance", [float("nan"), -0.5])
def test_bad_tolerance_is_refused(tolerance):
    with pytest.raises(ValueError):
        diff(graph(), graph(), tolerance=tolerance)
