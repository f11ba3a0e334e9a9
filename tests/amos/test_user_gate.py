"""A user adds a gate (Softplus) with the public API only, compiles an ONNX model that uses it with --coding amos,
and the SNN computes the ANN with the gate replaced by its fitted circuit."""

import numpy as np
import pytest
from onnx import helper

import snncc
from snncc.backends.simulator import simulate
from snncc.frontend import CONVERTERS, converter
from snncc.gates import Gate, Lowering, register_gate
from snncc.ir import FSNeuron, GateOp, run
from tests.amos.models import INPUT_SHAPE, images
from tests.helpers import make_model, rand


def softplus(x):
    """log(1 + e^x), without overflow."""
    return np.logaddexp(0.0, x)


@pytest.fixture
def softplus_registered():
    register_gate(Gate(name="softplus", function=softplus, default_K=8, default_range=(-4.0, 4.0),
                       lowering=Lowering.FITTED, description="log(1 + e^x)"), replace=True)

    @converter("Softplus")
    def convert_softplus(ctx, node):
        ctx.emit(GateOp, node, [ctx.value(node.input[0], node)], gate="softplus")

    yield
    CONVERTERS.pop("Softplus", None)


def softplus_model():
    nodes = [helper.make_node("Flatten", ["x"], ["f"]),
             helper.make_node("Gemm", ["f", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Softplus", ["h"], ["a"]),
             helper.make_node("Gemm", ["a", "w2", "b2"], ["y"], transB=1)]
    init = {"w1": rand(12, 64, seed=1, scale=0.2), "b1": rand(12, seed=2, scale=0.1),
            "w2": rand(5, 12, seed=3), "b2": rand(5, seed=4, scale=0.1)}
    return make_model(nodes, INPUT_SHAPE, [5], init)


def test_a_softplus_gate_added_through_the_public_api_compiles_and_runs(softplus_registered):
    x_calib, x_test = images(200, seed=3), images(100, seed=4)
    snn = snncc.compile(softplus_model(), "amos", calibration=x_calib, fit="quick")
    node = next(n for n in snn.nodes if isinstance(n, FSNeuron))
    assert node.gate == "softplus" and node.steps == 8 and node.max_abs_error < 0.2 and node.mse < 0.01
    circuit_ann = run(snn, x_test)[snn.outputs[0]]
    result = simulate(snn, x_test, 1)
    np.testing.assert_array_equal(result.predictions[1], circuit_ann.argmax(-1))
    assert result.max_spikes_per_neuron <= 8
    # the fitted circuit stays close to the real gate on the calibrated range
    ann = snncc.compile(softplus_model(), "amos", calibration=x_calib, pipeline="fold-bn")
    reference = run(ann, x_test)[ann.outputs[0]]
    assert np.mean(reference.argmax(-1) == circuit_ann.argmax(-1)) >= 0.9


def test_the_same_model_without_the_gate_registered_is_a_clear_error():
    with pytest.raises(snncc.SnnccError, match="Softplus"):
        snncc.compile(softplus_model(), "amos", calibration=images(20))


def test_fifty_identical_gates_are_fitted_once(monkeypatch):
    import snncc.gates.table as table
    from snncc.ir import Concat, ConstRef, Dense, Graph, Input
    from snncc.ir.types import TensorType
    from snncc.passes import PassContext, lower_gates

    register_gate(Gate(name="softsign_once", function=lambda x: x / (1.0 + np.abs(x)), default_K=5,
                       default_range=(-3.0, 3.0), lowering=Lowering.FITTED), replace=True)
    calls = []
    real_fit = table.fit_circuit
    monkeypatch.setattr(table, "fit_circuit", lambda *a, **k: calls.append(a) or real_fit(*a, **k))
    f = TensorType((4,))
    gates = [GateOp(name=f"g{i}", inputs=("fc",), type=f, gate="softsign_once") for i in range(50)]
    nodes = [Input(name="x", type=f), Dense(name="fc", inputs=("x",), type=f, weight=ConstRef("w")), *gates,
             Concat(name="out", inputs=tuple(g.name for g in gates), type=TensorType((200,)))]
    graph = Graph.build(nodes, ["out"], {"w": np.eye(4, dtype=np.float32)}, {})
    x = np.random.default_rng(0).uniform(-2, 2, (300, 4)).astype(np.float32)
    lowered = lower_gates(graph, PassContext(calibration=x), fit="quick").graph
    assert len(calls) == 1
    assert len({(n.thresholds, n.resets, n.weights) for n in lowered.nodes if isinstance(n, FSNeuron)}) == 1
