"""Pass tests for phase coding: lower-phase, search-phase-base, insert-delays, canonicalize-gcn. Each has a numeric
check against the reference interpreter and a case where it must not fire."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.errors import DataError, OptionError, PassError
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import (Add, BoundedRelu, ConstRef, Delay, Dense, Graph, Input, PhaseNeuron, Sigmoid, TensorType, run,
                      verify)
from snncc.passes import (PassContext, PassManager, canonicalize_gcn, fold_affine, insert_delays, lower_phase,
                          search_phase_base)
from snncc.passes.insert_delays import latency_steps
from snncc.passes.search_phase_base import encoding_error
from tests.helpers import onnxruntime_run
from tests.phase.phase_models import karate_features, karate_gcn, residual_cnn


def two_layer(theta=1.0) -> Graph:
    rng = np.random.default_rng(0)
    t = TensorType
    nodes = [Input(name="x", type=t((6,))),
             Dense(name="fc1", inputs=("x",), type=t((5,)), weight=ConstRef("w1"), bias=ConstRef("b1")),
             BoundedRelu(name="a1", inputs=("fc1",), type=t((5,)), theta=ConstRef("th")),
             Dense(name="fc2", inputs=("a1",), type=t((3,)), weight=ConstRef("w2"))]
    consts = {"w1": rng.normal(0, 1, (5, 6)), "b1": rng.normal(0, 0.1, 5), "w2": rng.normal(0, 1, (3, 5)),
              "th": np.array(theta)}
    return Graph.build(nodes, ["fc2"], {k: np.asarray(v, np.float32) for k, v in consts.items()})


def ctx(calibration=None):
    return PassContext(calibration=calibration)


# -- lower-phase ---------------------------------------------------------------------------------------------------

def test_lower_phase_replaces_bounded_relu_and_marks_the_schedule():
    g = two_layer()
    result = lower_phase(g, ctx(), phases=5, base=1.5, shift=True)
    assert result.modified
    node = result.graph.node("a1")
    assert isinstance(node, PhaseNeuron) and (node.phases, node.base, node.shift) == (5, 1.5, True)
    assert result.graph.meta["schedule"] == "windowed"
    verify(result.graph)
    x = np.random.default_rng(1).normal(0, 1, (50, 6)).astype(np.float32)
    z = run(g, x, keep=["fc1"])["fc1"]
    a = run(result.graph, x, keep=["a1"])["a1"]
    levels = np.append(1.5 ** -np.arange(5), 0.0)
    nearest = levels[np.argmin(np.abs(np.clip(z, 0, 1)[..., None] - levels), axis=-1)]
    np.testing.assert_allclose(a, nearest, rtol=1e-6)


def test_lower_phase_multi_spike_halves_theta_to_cover_zero_to_theta():
    g = two_layer(theta=2.0)
    lowered = lower_phase(g, ctx(), phases=4, multi_spike=True).graph
    node = lowered.node("a1")
    assert float(lowered.constants[node.theta]) == 1.0 and node.multi_spike and not node.shift
    # 4 bits of weights 1, 1/2, 1/4, 1/8: the largest value is 2 - 1/8, just under the calibrated theta 2
    assert float(node.evaluate([np.array([[5.0]], np.float32)], lowered.constants)[0, 0]) == 1.875


def test_lower_phase_does_not_fire_without_relu_populations():
    g = Graph.build([Input(name="x", type=TensorType((6,))),
                     Dense(name="fc", inputs=("x",), type=TensorType((2,)), weight=ConstRef("w"))], ["fc"],
                    {"w": np.ones((2, 6), np.float32)})
    assert not lower_phase(g, ctx()).modified


@pytest.mark.parametrize("options,message", [({"phases": 0}, "phases"), ({"base": 1.0}, "1 < B <= 2"),
                                             ({"base": 2.5}, "1 < B <= 2"),
                                             ({"base": 1.5, "multi_spike": True}, "base 2")])
def test_lower_phase_rejects_bad_options(options, message):
    with pytest.raises(OptionError, match=message):
        lower_phase(two_layer(), ctx(), **options)


def test_lower_phase_names_unthresholded_and_non_relu_gates():
    g = two_layer()
    relu = g.with_(nodes=[n if n.name != "a1" else Sigmoid(name="a1", inputs=n.inputs, type=n.type)
                          for n in g.nodes])
    with pytest.raises(PassError, match=r"a1.*--coding amos"):
        PassManager("lower-phase").run(relu, ctx())


# -- search-phase-base ---------------------------------------------------------------------------------------------

def test_search_phase_base_lowers_the_encoding_error():
    g = lower_phase(two_layer(theta=2.0), ctx(), phases=6).graph
    x = np.random.default_rng(2).normal(0, 1, (400, 6)).astype(np.float32)
    c = ctx(x)
    result = search_phase_base(g, c)
    chosen = result.graph.node("a1").base
    assert result.modified and 1.0 < chosen < 2.0
    report = c.stats["phase_base"]["a1"]
    assert report["error"] < report["error_base2"]
    v = run(g, x, keep=["fc1"])["fc1"]
    assert encoding_error(v, np.float32(2.0), chosen, 6, True) == pytest.approx(report["error"])


def test_search_phase_base_needs_data_and_skips_multi_spike():
    g = lower_phase(two_layer(), ctx(), phases=6).graph
    with pytest.raises(DataError, match="--base"):
        search_phase_base(g, ctx())
    multi = lower_phase(two_layer(), ctx(), phases=6, multi_spike=True).graph
    assert not search_phase_base(multi, ctx()).modified


def test_search_phase_base_grid_option():
    g = lower_phase(two_layer(), ctx(), phases=6).graph
    x = np.random.default_rng(2).normal(0, 1, (100, 6)).astype(np.float32)
    assert search_phase_base(g, ctx(x), grid="1.25/1.75").graph.node("a1").base in (1.25, 1.75)
    with pytest.raises(OptionError):
        search_phase_base(g, ctx(x), grid="0.5/1.5")


# -- insert-delays -------------------------------------------------------------------------------------------------

def residual_graph(k=4) -> Graph:
    """x -> fc1 -> p1 -> fc2 -> p2 -> fc3 -> p3 ; out = add(p3, p1): the skip crosses 2 populations."""
    t = TensorType((4,))
    nodes = [Input(name="x", type=t)]
    consts = {"w": np.eye(4, dtype=np.float32), "th": np.array(1.0, np.float32)}
    src = "x"
    for i in (1, 2, 3):
        nodes.append(Dense(name=f"fc{i}", inputs=(src,), type=t, weight=ConstRef("w")))
        nodes.append(PhaseNeuron(name=f"p{i}", inputs=(f"fc{i}",), type=t, theta=ConstRef("th"), phases=k))
        src = f"p{i}"
    nodes.append(Add(name="join", inputs=("p3", "p1"), type=t))
    nodes.append(Dense(name="out", inputs=("join",), type=t, weight=ConstRef("w")))
    return Graph.build(nodes, ["out"], consts)


def test_insert_delays_buffers_the_skip_edge():
    g = residual_graph(k=4)
    result = insert_delays(g, ctx())
    assert result.modified
    delays = [n for n in result.graph.nodes if isinstance(n, Delay)]
    assert [(d.inputs, d.steps) for d in delays] == [(("p1",), 8)]          # 2 windows of K = 4
    assert result.graph.node("join").inputs == ("p3", delays[0].name)
    assert result.graph.meta["latency_steps"] == "12" and result.graph.meta["pipeline_interval_steps"] == "4"
    x = np.random.default_rng(0).uniform(0, 1, (8, 4)).astype(np.float32)
    np.testing.assert_array_equal(run(g, x)["out"], run(result.graph, x)["out"])
    again = insert_delays(result.graph, ctx())
    assert not again.modified and latency_steps(again.graph) == 12


def test_insert_delays_does_not_fire_on_concurrent_graphs():
    assert not insert_delays(two_layer(), ctx()).modified


# -- canonicalize-gcn ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bias_first", [False, True])
def test_canonicalize_gcn_fuses_each_layer_and_its_bias(bias_first):
    model = karate_gcn(bias_first=bias_first)
    g = fold_affine(onnx_to_ir(prepare(model)), ctx()).graph      # as in the pipeline: x W1 + b1 is one dense
    result = canonicalize_gcn(g, ctx())
    assert result.modified
    ops = [n.op for n in result.graph.nodes]
    assert ops == ["input", "graph_conv", "relu", "graph_conv"]
    convs = [n for n in result.graph.nodes if n.op == "graph_conv"]
    assert convs[0].adjacency == convs[1].adjacency                      # one shared adjacency constant
    assert all(n.bias is not None for n in convs)
    verify(result.graph)
    x = karate_features()
    np.testing.assert_allclose(run(result.graph, x)[result.graph.outputs[0]], onnxruntime_run(model, x),
                               rtol=1e-5, atol=1e-5)


def test_canonicalize_gcn_does_not_fire_on_a_cnn():
    g = onnx_to_ir(prepare(residual_cnn()))
    assert not canonicalize_gcn(g, ctx()).modified


def test_lower_phase_turns_max_pool_into_first_spike_pooling():
    from snncc.passes import balance_thresholds

    x = np.random.default_rng(0).uniform(0, 1, (32, 1, 8, 8)).astype(np.float32)
    g = balance_thresholds(onnx_to_ir(prepare(residual_cnn())), ctx(x)).graph
    lowered = lower_phase(g, ctx()).graph
    pool = lowered.node("pool1")
    assert pool.op == "first_spike_pool" and pool.kernel == (2, 2) and pool.window() == 0
    values = run(lowered, x, keep="all")
    np.testing.assert_array_equal(values["pool1"], values["relu1"].reshape(32, 4, 4, 2, 4, 2).max(axis=(3, 5)))
    with pytest.raises(OptionError):
        lower_phase(onnx_to_ir(prepare(residual_cnn())), ctx(), multi_spike=True, phases=0)
    with pytest.raises(PassError, match="maxpool-to-relu-tree"):
        PassManager("lower-phase{multi_spike=true}").run(g, ctx())


def test_search_phase_base_can_rescale_theta():
    g = lower_phase(two_layer(theta=3.0), ctx(), phases=4).graph
    x = np.random.default_rng(2).normal(0, 1, (400, 6)).astype(np.float32)
    keep, searched = ctx(x), ctx(x)
    kept = search_phase_base(g, keep).graph
    result = search_phase_base(g, searched, theta="search").graph
    assert float(kept.constants[kept.node("a1").theta]) == 3.0
    scale = searched.stats["phase_base"]["a1"]["theta_scale"]
    assert float(result.constants[result.node("a1").theta]) == pytest.approx(3.0 * scale)
    v = run(g, x, keep=["fc1"])["fc1"]
    before = encoding_error(v, np.float32(3.0), kept.node("a1").base, 4, True, clip=False)
    assert searched.stats["phase_base"]["a1"]["error"] <= before
    with pytest.raises(OptionError):
        search_phase_base(g, ctx(x), theta="max")


def test_lower_phase_takes_a_qcfs_activation_with_its_data_free_theta():
    from snncc.ir import QCFS

    g = two_layer(theta=2.0)
    qcfs = g.with_(nodes=[n if n.name != "a1" else QCFS(name="a1", inputs=n.inputs, type=n.type, theta=n.theta,
                                                        levels=4) for n in g.nodes])
    lowered = lower_phase(qcfs, ctx(), phases=6, base=1.5).graph
    node = lowered.node("a1")
    assert node.op == "phase_neuron" and float(lowered.constants[node.theta]) == 2.0 and node.base == 1.5
