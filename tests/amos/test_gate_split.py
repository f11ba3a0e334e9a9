"""HardSwish is lowered as relu(x) + hardswish_rest(x): an exact ReLU circuit plus a staircase for the bounded rest
(`snncc.gates.levels`), so its error stays that of the rest on (-3, 3) however wide the calibrated range; HardSigmoid
is the exact closed form of a Clip."""

import numpy as np

from snncc.gates import fit_circuit, fs_forward, get_gate
from snncc.gates.levels import level_circuit
from snncc.ir import Add, ConstRef, Dense, FSNeuron, Graph, HardSigmoid, HardSwish, Input, run
from snncc.ir.types import TensorType
from snncc.passes import PassContext, calibrate, lower_gates
from snncc.passes.lower_gates import FIT_PRESETS

F = TensorType((6,))
REST = get_gate("hardswish_rest").function
HARDSWISH = get_gate("hardswish").function


def _lowered(gate, scale: float, lo: float, hi: float, k=None):
    x = Input(name="x", type=F)
    fc = Dense(name="fc", inputs=("x",), type=F, weight=ConstRef("fc.weight"))
    graph = Graph.build([x, fc, gate], [gate.name], {"fc.weight": np.eye(6, dtype=np.float32) * np.float32(scale)},
                        {})
    ctx = PassContext(calibration=np.random.default_rng(0).uniform(lo, hi, (3000, 6)).astype(np.float32))
    graph = calibrate(graph, ctx).graph
    return lower_gates(graph, ctx, k=k, fit="quick").graph


def test_the_rest_staircase_is_exactly_zero_outside_its_support_and_close_inside():
    circuit = level_circuit(REST, (-40.0, 50.0), 16, gate="hardswish_rest", support=(-3.0, 3.0), period=3.0)
    x = np.linspace(-40.0, 50.0, 200_001)
    y, spikes = fs_forward(x, circuit)
    outside = (x < -3.0) | (x > 3.0)
    assert np.abs(y[x > 3.0]).max() == 0.0 and spikes[:, x > 3.0].sum(axis=0).max() == 1     # the guard alone
    assert np.abs(y[x < -3.0]).max() == 0.0 and circuit.bias_offset == 0.0
    assert np.abs(y[outside] - REST(x[outside])).max() < 0.05
    assert circuit.max_abs_error < 0.03 and spikes.sum(axis=0).max() <= 16
    # the fold (r(x) = r(x - 3) on [0, 3]) lets 14 levels serve both halves: without it 15 levels err by 0.048
    unfolded = level_circuit(REST, (-40.0, 50.0), 16, gate="hardswish_rest", support=(-3.0, 3.0))
    assert unfolded.max_abs_error > 1.5 * circuit.max_abs_error
    # the one circuit fitted on the whole range errs 5x more (and that error lands on every input)
    assert fit_circuit("hardswish", 16, (-40.0, 50.0), settings=FIT_PRESETS["quick"]).max_abs_error > 5 * circuit.max_abs_error


def test_hardswish_becomes_relu_plus_rest_and_equals_the_gate_within_their_errors():
    graph = _lowered(HardSwish(name="g", inputs=("fc",), type=F), scale=20.0, lo=-1.0, hi=1.0)
    add = graph.node("g")
    assert isinstance(add, Add) and add.coeffs == (1.0, 1.0)
    relu, rest = (graph.node(name) for name in add.inputs)
    assert isinstance(relu, FSNeuron) and relu.gate == "relu" and relu.steps == 16 and relu.ge
    assert isinstance(rest, FSNeuron) and rest.gate == "hardswish_rest" and rest.steps == 16
    x = np.random.default_rng(1).uniform(-1.0, 1.0, (4000, 6)).astype(np.float32)
    z = x.astype(np.float64) * 20.0
    y = run(graph, x)["g"].astype(np.float64)
    bound = relu.max_abs_error + rest.max_abs_error
    assert np.abs(y - HARDSWISH(z)).max() <= bound + 1e-5 and bound < 0.03


def test_a_hardswish_range_inside_the_linear_part_is_the_relu_circuit_alone():
    graph = _lowered(HardSwish(name="g", inputs=("fc",), type=F), scale=1.0, lo=3.5, hi=9.0, k=12)
    node = graph.node("g")
    assert isinstance(node, FSNeuron) and node.gate == "relu" and node.steps == 12


def test_hard_sigmoid_is_the_exact_clip_circuit():
    graph = _lowered(HardSigmoid(name="g", inputs=("fc",), type=F, alpha=1 / 6, beta=0.5), scale=8.0, lo=-1.0,
                     hi=1.0, k=10)
    node = graph.node("g")
    assert isinstance(node, FSNeuron) and node.ge and node.steps == 10
    x = np.random.default_rng(2).uniform(-1.0, 1.0, (4000, 6)).astype(np.float32)
    z = x.astype(np.float64) * 8.0
    y = run(graph, x)["g"].astype(np.float64)
    exact = np.clip(z / 6 + 0.5, 0.0, 1.0)
    assert np.all(y <= exact + 1e-6) and np.abs(y - exact).max() <= 2.0**-10 + 1e-6


def test_a_hardswish_network_simulates_as_its_circuits_and_stays_close_to_onnxruntime():
    import onnxruntime as ort

    import snncc
    from snncc.backends.simulator import simulate
    from tests.amos.models import hardswish_model, images

    model, calibration = hardswish_model(), images(200, seed=2)
    test = calibration[:100]        # inside the calibrated ranges: beyond them the ReLU circuit saturates
    graph = snncc.compile(model, "amos", calibration=calibration)
    assert sum(isinstance(n, FSNeuron) and n.gate == "hardswish_rest" for n in graph.nodes) == 2
    circuit_ann = run(graph, test)[graph.outputs[0]]
    result = simulate(graph, test, 1)
    np.testing.assert_allclose(result.outputs[1], circuit_ann, rtol=1e-5, atol=1e-5)
    assert 0 < result.max_spikes_per_neuron <= 16
    # onnxruntime's float32 Conv sums round differently: a membrane within an ulp of a level threshold may flip
    on_ort = simulate(graph, test, 1, engine="ort").outputs[1]
    assert (on_ort.argmax(-1) == circuit_ann.argmax(-1)).mean() >= 0.98
    assert np.abs(on_ort - circuit_ann).max() < 1e-2 * np.abs(circuit_ann).max()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ann = session.run(None, {"x": test})[0]
    assert np.abs(circuit_ann - ann).max() < 0.02 * np.abs(ann).max()
    assert (circuit_ann.argmax(-1) == ann.argmax(-1)).mean() >= 0.98


def test_the_relu_part_of_a_split_gate_rounds_to_its_grid_without_bias():
    from snncc.passes.lower_gates import rounded_relu_circuit

    circuit = rounded_relu_circuit(64.0, 16)
    delta = 64.0 * 2.0**-16
    x = np.random.default_rng(3).uniform(-70.0, 63.0, 200_000)
    error = fs_forward(x, circuit)[0] - np.maximum(x, 0.0)
    assert np.abs(error).max() <= 0.5 * delta and abs(error[x > 0].mean()) < 0.05 * delta    # the floor: -delta / 2
    assert np.all(fs_forward(x[x < 0], circuit)[0] == 0.0) and circuit.ge and circuit.max_abs_error == 0.5 * delta
