"""match-gelu: GELU exported as x * 0.5 * (1 + Erf(x / sqrt 2)) (ONNX opsets < 20) becomes one gelu gate, which
lower-gates turns into one fitted circuit; the must-not-fire case keeps a lone Erf as an erf gate."""

import numpy as np
import pytest
from onnx import helper

import snncc
from snncc.backends.simulator import simulate
from snncc.ir import FSNeuron, run
from tests.amos.models import INPUT_SHAPE, images
from tests.helpers import make_model, onnxruntime_run, rand

SQRT2 = np.float32(np.sqrt(2.0))


def _model(form: str):
    head = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "w1", "b1"], ["h"], transB=1)]
    if form == "div_then_half":         # torch: Div(x, sqrt2) -> Erf -> Add 1 -> Mul x -> Mul 0.5
        gelu = [helper.make_node("Div", ["h", "sqrt2"], ["u"]), helper.make_node("Erf", ["u"], ["e"]),
                helper.make_node("Add", ["e", "one"], ["p"]), helper.make_node("Mul", ["h", "p"], ["m"]),
                helper.make_node("Mul", ["m", "half"], ["a"])]
    elif form == "half_x_first":        # Mul(x, 0.5) * (1 + Erf(x * 1/sqrt2))
        gelu = [helper.make_node("Mul", ["h", "inv_sqrt2"], ["u"]), helper.make_node("Erf", ["u"], ["e"]),
                helper.make_node("Add", ["one", "e"], ["p"]), helper.make_node("Mul", ["h", "half"], ["hx"]),
                helper.make_node("Mul", ["hx", "p"], ["a"])]
    else:                                # a lone Erf gate: must not become a gelu
        gelu = [helper.make_node("Div", ["h", "sqrt2"], ["u"]), helper.make_node("Erf", ["u"], ["a"])]
    tail = [helper.make_node("Gemm", ["a", "w2", "b2"], ["y"], transB=1)]
    init = {"w1": rand(16, 64, seed=1, scale=0.3), "b1": rand(16, seed=2, scale=0.1), "w2": rand(5, 16, seed=3),
            "b2": rand(5, seed=4, scale=0.1), "sqrt2": np.array(SQRT2), "inv_sqrt2": np.array(1 / SQRT2),
            "one": np.array(1.0, np.float32), "half": np.array(0.5, np.float32)}
    return make_model(head + gelu + tail, INPUT_SHAPE, [5], init)


@pytest.mark.parametrize("form", ["div_then_half", "half_x_first"])
def test_the_erf_formula_becomes_one_gelu_circuit(form):
    model = _model(form)
    x_calib, x_test = images(200, seed=5), images(100, seed=6)
    canonical = snncc.compile(model, "amos", pipeline="match-gelu,fold-affine")
    assert [n.op for n in canonical.nodes].count("gelu") == 1
    assert not any(n.op in ("gate", "mul") for n in canonical.nodes)
    np.testing.assert_allclose(run(canonical, x_test)["y"], onnxruntime_run(model, x_test), rtol=1e-4, atol=1e-5)
    snn = snncc.compile(model, "amos", calibration=x_calib, phases=8, fit="quick")
    circuits = [n for n in snn.nodes if isinstance(n, FSNeuron)]
    assert [c.gate for c in circuits] == ["gelu"] and "mul" not in {n.op for n in snn.nodes}
    circuit_ann = run(snn, x_test)["y"]
    np.testing.assert_array_equal(simulate(snn, x_test, 1).predictions[1], circuit_ann.argmax(-1))


def test_a_lone_erf_stays_an_erf_gate():
    from snncc.frontend import onnx_to_ir, prepare
    from snncc.passes import PassContext
    from snncc.passes.lower_gates import match_gelu

    graph = onnx_to_ir(prepare(_model("lone_erf")))
    assert match_gelu(graph, PassContext()).modified is False
    result = snncc.compile(_model("lone_erf"), "amos", pipeline="match-gelu")
    assert [n.gate for n in result.nodes if n.op == "gate"] == ["erf"]
    assert "gelu" not in {n.op for n in result.nodes}
