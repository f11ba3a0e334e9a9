"""lower-gates on hand-built graphs: which circuit each gate gets, its exactness, the must-not-fire case and errors."""

import numpy as np
import pytest

from snncc.errors import OptionError, PassError
from snncc.gates import fs_forward, get_circuit
from snncc.ir import (Add, Clip, ConstRef, Dense, FSNeuron, GateOp, Graph, Input, MaxPool, Mul, Relu, Sigmoid, SiLU,
                      Tanh, run, to_text)
from snncc.ir.types import TensorType
from snncc.passes import PassContext, PassManager, calibrate, lower_gates
from snncc.passes.lower_gates import FIT_PRESETS, check_k, grid_alpha

F = TensorType((6,))


def _graph(gate_nodes, extra_consts=None):
    x = Input(name="x", type=F)
    w = np.eye(6, dtype=np.float32) * np.float32(4.0)
    fc = Dense(name="fc", inputs=("x",), type=F, weight=ConstRef("fc.weight"))
    nodes = [x, fc, *gate_nodes]
    return Graph.build(nodes, [nodes[-1].name], {"fc.weight": w, **(extra_consts or {})}, {})


def _lowered(graph, calibration=None, **options):
    options.setdefault("fit", "quick")    # only matters off the shipped table: keeps refits cheap
    ctx = PassContext(calibration=calibration)
    if calibration is not None:
        graph = calibrate(graph, ctx).graph
    return lower_gates(graph, ctx, **options), ctx


def _uniform(n=4000, lo=-1.0, hi=1.0, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, (n, 6)).astype(np.float32)


def test_clip_gets_the_closed_form_and_is_the_k_bit_floor_quantizer_exactly():
    graph = _graph([Clip(name="g", inputs=("fc",), type=F, lo=0.0, hi=3.0)])
    (result, _) = _lowered(graph, k=8)
    node = result.graph.node("g")
    assert isinstance(node, FSNeuron) and node.gate == "clip" and node.ge and node.steps == 8
    x = _uniform(2000, -0.5, 1.0)
    grid = (np.arange(-4, 2**8 + 4) * 3.0 / 2**8 / 4.0).astype(np.float32)   # fc multiplies by 4
    x = np.concatenate([x, np.repeat(grid[:, None], 6, axis=1)])
    y = run(result.graph, x)["g"]
    z = (x * 4.0).astype(np.float64)
    delta = 3.0 / 2**8
    expected = np.minimum(np.floor(np.maximum(z, 0) / delta) * delta, 3.0 - delta)
    np.testing.assert_array_equal(y, expected.astype(np.float32))


def test_clip_with_a_negative_bound_is_the_affine_reuse_of_the_relu_circuit():
    graph = _graph([Clip(name="g", inputs=("fc",), type=F, lo=-1.0, hi=1.0)])
    (result, _) = _lowered(graph, k=6)
    x = _uniform(3000, -0.4, 0.4)
    y = run(result.graph, x)["g"].astype(np.float64)
    z = np.clip(x.astype(np.float64) * 4.0, -1, 1)
    assert np.all(y <= z + 1e-12) and np.all(z - y <= 2.0 / 2**6 + 1e-12)


def test_relu_alpha_comes_from_calibration_and_is_rounded_onto_a_float32_grid():
    graph = _graph([Relu(name="g", inputs=("fc",), type=F)])
    calib = _uniform(500, -1.0, 1.0)
    (result, ctx) = _lowered(graph, calibration=calib)
    node = result.graph.node("g")
    alpha = node.thresholds[0] * 2
    measured = ctx.stats["activations"]["g"].max
    assert node.steps == 10 and measured <= alpha <= measured * (1 + 2.0**-13)
    levels = np.arange(2**10) * (alpha / 2**10)
    assert np.array_equal(levels.astype(np.float32).astype(np.float64), levels)   # exact float32 grid


def test_sigmoid_silu_and_tanh_get_their_default_k_and_evaluate_their_circuit():
    x = Input(name="x", type=F)
    fc = Dense(name="fc", inputs=("x",), type=F, weight=ConstRef("fc.weight"))
    nodes = [x, fc, Sigmoid(name="s", inputs=("fc",), type=F), SiLU(name="w", inputs=("fc",), type=F),
             Tanh(name="t", inputs=("fc",), type=F),
             Add(name="sum", inputs=("s", "w"), type=F), Add(name="out", inputs=("sum", "t"), type=F)]
    graph = Graph.build(nodes, ["out"], {"fc.weight": np.eye(6, dtype=np.float32)}, {})
    calib = _uniform(2000, -3.0, 3.0)
    (result, _) = _lowered(graph, calibration=calib)
    lowered = result.graph
    steps = {n.name: (n.gate, n.steps) for n in lowered.nodes if isinstance(n, FSNeuron)}
    assert steps == {"s": ("sigmoid", 12), "w": ("silu", 16), "t": ("tanh", 12)}
    assert lowered.meta["schedule"] == "windowed"
    test = _uniform(500, -3.0, 3.0, seed=1)
    values = run(lowered, test, keep=["s", "w", "t"])
    for name in ("s", "w", "t"):
        node = lowered.node(name)
        expected, _ = fs_forward(test.astype(np.float64), node.circuit())
        np.testing.assert_array_equal(values[name], expected.astype(np.float32))   # ANN mode = circuit function
        assert node.x_range[0] <= -2.9 and node.x_range[1] >= 2.9
    exact = {"s": 1 / (1 + np.exp(-test)), "w": test / (1 + np.exp(-test)), "t": np.tanh(test)}
    for name, target in exact.items():
        assert np.abs(values[name] - target).max() <= lowered.node(name).max_abs_error + 1e-6


def test_tanh_through_the_pass_is_bit_exactly_two_fs_sigmoid_of_2x_minus_one():
    graph = _graph([Tanh(name="g", inputs=("fc",), type=F)])
    (result, _) = _lowered(graph, calibration=_uniform(1000, -1.0, 1.0), importance=False)
    node = result.graph.node("g")
    lo, hi = node.x_range
    sigmoid = get_circuit("sigmoid", 12, (2 * lo, 2 * hi), fit_settings=FIT_PRESETS["quick"])
    z = np.linspace(lo, hi, 50_001)
    y, _ = fs_forward(z, node.circuit())
    s, _ = fs_forward(2 * z, sigmoid)
    np.testing.assert_array_equal(y, 2 * s - 1)
    assert node.bias_offset == -1.0


def test_phases_option_sets_k_for_every_gate_and_error_falls_with_k():
    errors = []
    for k in (4, 8, 12):
        graph = _graph([Sigmoid(name="g", inputs=("fc",), type=F)])
        (result, _) = _lowered(graph, calibration=_uniform(500, -2.5, 2.5), k=k, importance=False)
        node = result.graph.node("g")
        assert node.steps == k and len(node.thresholds) == k
        errors.append(node.mse)
    assert errors[0] > errors[1] > errors[2]


def test_mul_stays_non_spiking_and_is_flagged_in_the_header():
    x = Input(name="x", type=F)
    fc = Dense(name="fc", inputs=("x",), type=F, weight=ConstRef("fc.weight"))
    nodes = [x, fc, Sigmoid(name="s", inputs=("fc",), type=F), Mul(name="se", inputs=("fc", "s"), type=F)]
    graph = Graph.build(nodes, ["se"], {"fc.weight": np.eye(6, dtype=np.float32)}, {})
    (result, ctx) = _lowered(graph, calibration=_uniform(500))
    assert result.graph.node("se").op == "mul"
    assert result.graph.meta["amos_non_spiking"] == "se"
    assert any("non-spiking" in line and "%se" in line for line in ctx.log)


def test_must_not_fire_on_a_graph_without_gates():
    x = Input(name="x", type=F)
    fc = Dense(name="fc", inputs=("x",), type=F, weight=ConstRef("fc.weight"))
    graph = Graph.build([x, fc], ["fc"], {"fc.weight": np.eye(6, dtype=np.float32)}, {})
    result = lower_gates(graph, PassContext())
    assert result.modified is False and result.graph is graph


def test_lowering_is_deterministic():
    def once():
        graph = _graph([Sigmoid(name="g", inputs=("fc",), type=F)])
        return to_text(_lowered(graph, calibration=_uniform(500, -2.0, 2.0))[0].graph)
    assert once() == once()


def test_an_unregistered_gate_is_an_error_naming_the_node_and_how_to_register():
    graph = _graph([GateOp(name="mystery", inputs=("fc",), type=F, gate="no_such_gate")])
    manager = PassManager("lower-gates")
    with pytest.raises(PassError) as info:
        manager.run(graph, PassContext(calibration=_uniform(50)))
    message = str(info.value)
    assert "%mystery" in message and "no_such_gate" in message and "register_gate" in message
    assert "docs/amos.md" in message


def test_other_errors_name_the_node_and_the_fix():
    pool_graph = Graph.build(
        [Input(name="x", type=TensorType((1, 4, 4))),
         Clip(name="r", inputs=("x",), type=TensorType((1, 4, 4)), lo=0.0, hi=1.0),
         MaxPool(name="p", inputs=("r",), type=TensorType((1, 2, 2)), kernel=(2, 2), strides=(2, 2))], ["p"], {}, {})
    with pytest.raises(PassError, match=r"%p.*maxpool-to-relu-tree"):
        PassManager("lower-gates").run(pool_graph, PassContext())
    relu_graph = _graph([Relu(name="g", inputs=("fc",), type=F)])
    with pytest.raises(PassError, match=r"%g.*calibrate"):
        PassManager("lower-gates").run(relu_graph, PassContext())
    sig_graph = _graph([Sigmoid(name="g", inputs=("fc",), type=F)])
    with pytest.raises(PassError, match=r"%g.*calibrate"):
        PassManager("lower-gates").run(sig_graph, PassContext())


@pytest.mark.parametrize("bad", [0, -3, 24, "abc", 2.5])
def test_bad_k_is_an_option_error(bad):
    with pytest.raises(OptionError, match="between 1 and 23"):
        check_k(bad)


def test_grid_alpha_rounds_up_to_few_significant_bits():
    for alpha in (0.1, 1.0, 2.288818359375, 25.0, 1234.5678):
        for k in (4, 10, 16):
            rounded = grid_alpha(alpha, k)
            assert alpha <= rounded <= alpha * (1 + 2.0 ** (k - 23))
            mantissa = rounded / 2.0 ** np.floor(np.log2(rounded))
            assert float(mantissa * 2 ** (23 - k)).is_integer()


def test_amos_pipeline_options():
    from snncc.passes.lower_gates import amos_pipeline

    assert amos_pipeline().endswith("maxpool-to-relu-tree,lower-gates,insert-delays")
    assert "lower-gates{k=8}" in amos_pipeline(phases=8)
    assert "balance-thresholds{mode=layer,q=99.9,stat=max}" in amos_pipeline(stat="max", percentile=99.9)
    with pytest.raises(OptionError, match="max or percentile"):
        amos_pipeline(stat="max-input-current")
    with pytest.raises(OptionError, match="fit="):
        amos_pipeline(fit="slow")
