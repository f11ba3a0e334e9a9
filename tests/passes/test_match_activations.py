"""match-activations: each exporter's spelling of HardSwish, SiLU and GELU becomes one gate node computing what
onnxruntime computes on the source model; a lone decomposed HardSigmoid and a squeeze-excitation product stay."""

import numpy as np
import pytest
from onnx import helper, numpy_helper

import snncc
from snncc.backends.simulator import simulate
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import FSNeuron, run
from snncc.passes import PassContext, match_activations
from tests.amos.models import INPUT_SHAPE, images
from tests.helpers import make_model, onnxruntime_run, rand

N = helper.make_node
GATE_OPS = {"hard_swish", "silu", "gelu", "gate"}
CONSTANTS = {"three": 3.0, "zero": 0.0, "six": 6.0, "one": 1.0, "half": 0.5, "sixth": 1 / 6, "sqrt2": np.sqrt(2.0),
             "c_tanh": np.sqrt(2 / np.pi), "c_cube": 0.044715, "n3": 3.0}

SPELLINGS = {
    # Paddle (layout_cdla): x * Clip(x + 3, 0, 6) / 6
    "hardswish_clip_div": ("hard_swish", [
        N("Add", ["h", "three"], ["p"]), N("Clip", ["p", "zero", "six"], ["c"]), N("Mul", ["h", "c"], ["m"]),
        N("Div", ["m", "six"], ["a"])]),
    # x * HardSigmoid(x) with the ONNX op (alpha = 1/6)
    "hardswish_hardsigmoid_op": ("hard_swish", [
        N("HardSigmoid", ["h"], ["s"], alpha=1 / 6, beta=0.5), N("Mul", ["h", "s"], ["a"])]),
    # x * Relu6(x + 3) * (1/6), Relu6 as Min(Max(., 0), 6)
    "hardswish_minmax_mul_sixth": ("hard_swish", [
        N("Add", ["three", "h"], ["p"]), N("Max", ["p", "zero"], ["r"]), N("Min", ["r", "six"], ["c"]),
        N("Mul", ["c", "h"], ["m"]), N("Mul", ["m", "sixth"], ["a"])]),
    # (x / 6) * Relu6(x + 3), Relu6 as Relu then Min: the 1/6 first
    "hardswish_sixth_first_relu_min": ("hard_swish", [
        N("Div", ["h", "six"], ["q"]), N("Add", ["h", "three"], ["p"]), N("Relu", ["p"], ["r"]),
        N("Min", ["r", "six"], ["c"]), N("Mul", ["q", "c"], ["a"])]),
    # x * Clip(x / 6 + 0.5, 0, 1): HardSigmoid written out
    "hardswish_decomposed_hardsigmoid": ("hard_swish", [
        N("Div", ["h", "six"], ["q"]), N("Add", ["q", "half"], ["p"]), N("Clip", ["p", "zero", "one"], ["c"]),
        N("Mul", ["h", "c"], ["a"])]),
    # Keras Swish with beta = 1 via tf2onnx: x * Sigmoid(x * 1)
    "silu_beta_one": ("silu", [
        N("Mul", ["h", "one"], ["b"]), N("Sigmoid", ["b"], ["s"]), N("Mul", ["s", "h"], ["a"])]),
    # GELU erf form with the 0.5 on x: (x * 0.5) * (1 + Erf(x / sqrt 2))
    "gelu_erf_half_first": ("gelu", [
        N("Div", ["h", "sqrt2"], ["u"]), N("Erf", ["u"], ["e"]), N("Add", ["one", "e"], ["p"]),
        N("Mul", ["h", "half"], ["hx"]), N("Mul", ["hx", "p"], ["a"])]),
    # GELU tanh form with Pow (HF NewGELU): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    "gelu_tanh_pow": ("gate", [
        N("Pow", ["h", "n3"], ["x3"]), N("Mul", ["x3", "c_cube"], ["k"]), N("Add", ["h", "k"], ["i"]),
        N("Mul", ["i", "c_tanh"], ["j"]), N("Tanh", ["j"], ["t"]), N("Add", ["t", "one"], ["p"]),
        N("Mul", ["h", "half"], ["hx"]), N("Mul", ["hx", "p"], ["a"])]),
    # GELU tanh form with x * x * x and the 0.5 last
    "gelu_tanh_products": ("gate", [
        N("Mul", ["h", "h"], ["x2"]), N("Mul", ["x2", "h"], ["x3"]), N("Mul", ["c_cube", "x3"], ["k"]),
        N("Add", ["k", "h"], ["i"]), N("Mul", ["c_tanh", "i"], ["j"]), N("Tanh", ["j"], ["t"]),
        N("Add", ["one", "t"], ["p"]), N("Mul", ["p", "h"], ["m"]), N("Mul", ["m", "half"], ["a"])]),
}


def _model(gate_nodes, opset: int = 17):
    head = [N("Flatten", ["x"], ["f"]), N("Gemm", ["f", "w1", "b1"], ["h"], transB=1)]
    tail = [N("Gemm", ["a", "w2", "b2"], ["y"], transB=1)]
    init = {"w1": rand(16, 64, seed=1, scale=0.8), "b1": rand(16, seed=2, scale=1.0), "w2": rand(5, 16, seed=3),
            "b2": rand(5, seed=4, scale=0.1), **{k: np.array(v, np.float32) for k, v in CONSTANTS.items()}}
    return make_model(head + gate_nodes + tail, INPUT_SHAPE, [5], init, opset=opset)


def _gates(graph):
    return [n for n in graph.nodes if n.op in GATE_OPS]


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_each_spelling_becomes_one_gate(spelling):
    op, nodes = SPELLINGS[spelling]
    model = _model(nodes)
    x = images(64, seed=6)
    matched = snncc.compile(model, "amos", pipeline="match-activations,fold-affine")
    assert [n.op for n in _gates(matched)] == [op]
    assert "mul" not in {n.op for n in matched.nodes} and "clip" not in {n.op for n in matched.nodes}
    if op == "gate":
        assert _gates(matched)[0].gate == "gelu_tanh"
    hidden = run(matched, x, keep=[_gates(matched)[0].inputs[0]])
    assert hidden[_gates(matched)[0].inputs[0]].min() < -3 < 3 < hidden[_gates(matched)[0].inputs[0]].max()
    np.testing.assert_allclose(run(matched, x)["y"], onnxruntime_run(model, x), rtol=1e-5, atol=1e-5)


def test_onnx_gelu_tanh_op_is_the_gelu_tanh_gate():
    model = _model([N("Gelu", ["h"], ["a"], approximate="tanh")], opset=20)
    x = images(64, seed=6)
    graph = snncc.compile(model, "amos", pipeline="match-activations")
    assert [n.gate for n in _gates(graph)] == ["gelu_tanh"]
    np.testing.assert_allclose(run(graph, x)["y"], onnxruntime_run(model, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nodes", [
    # HardSigmoid written out: already one exact Clip gate after fold-affine, left alone
    [N("Div", ["h", "six"], ["q"]), N("Add", ["q", "half"], ["p"]), N("Clip", ["p", "zero", "one"], ["a"])],
    # squeeze-excitation style product of two different activations
    [N("Relu", ["h"], ["r"]), N("Sigmoid", ["h"], ["s"]), N("Mul", ["r", "s"], ["m"]), N("Mul", ["m", "h"], ["a"])],
    # x * Clip(x + 3, 0, 5) / 6 is no gate of ours
    [N("Add", ["h", "three"], ["p"]), N("Clip", ["p", "zero", "one"], ["c"]), N("Mul", ["h", "c"], ["m"]),
     N("Div", ["m", "six"], ["a"])],
], ids=["lone_hard_sigmoid", "two_activations", "other_clip_bound"])
def test_must_not_fire(nodes):
    graph = onnx_to_ir(prepare(_model(nodes)))
    assert match_activations(graph, PassContext()).modified is False


def test_a_far_clip_before_the_gate_is_kept():
    # hardswish(clip(x, -20, 20)) equals hardswish(x) on [-8, 8] only: the clip stays, the arithmetic after it is
    # the gate
    model = _model([N("Clip", ["h", "m20", "p20"], ["k"]), N("Add", ["k", "three"], ["p"]),
                    N("Clip", ["p", "zero", "six"], ["c"]), N("Mul", ["k", "c"], ["m"]), N("Div", ["m", "six"], ["a"])])
    model.graph.initializer.extend([numpy_helper.from_array(np.array(v, np.float32), name=n)
                                    for n, v in (("m20", -20.0), ("p20", 20.0))])
    graph = snncc.compile(model, "amos", pipeline="match-activations")
    assert [n.op for n in graph.nodes if n.op in GATE_OPS | {"clip"}] == ["clip", "hard_swish"]
    x = images(16, seed=6) * 40
    assert np.abs(run(graph, x, keep=["h"])["h"]).max() > 20
    np.testing.assert_allclose(run(graph, x)["y"], onnxruntime_run(model, x), rtol=1e-5, atol=1e-4)


def test_paddle_hardswish_compiles_to_one_gate_in_amos():
    model = _model(SPELLINGS["hardswish_clip_div"][1])
    x_calib, x_test = images(200, seed=5), images(100, seed=6)
    snn = snncc.compile(model, "amos", calibration=x_calib, phases=8, fit="quick")
    # one HardSwish: its ReLU circuit plus the circuit of the rest (tests/amos/test_gate_split.py)
    assert [c.gate for c in snn.nodes if isinstance(c, FSNeuron)] == ["relu", "hardswish_rest"]
    assert "mul" not in {n.op for n in snn.nodes}
    np.testing.assert_array_equal(simulate(snn, x_test, 1).predictions[1], run(snn, x_test)["y"].argmax(-1))


def test_every_coding_runs_it_before_lowering():
    from snncc.pipeline import CODINGS, pipeline_for

    for coding in CODINGS:
        passes = [p.split("{")[0] for p in pipeline_for(coding).split(",")]
        assert passes.index("match-activations") < passes.index("fold-affine"), coding
