"""balance-thresholds, maxpool-to-relu-tree, lower-rate, fold-out-scale: ANN-mode equivalences and refusals."""

import numpy as np
import pytest
from onnx import helper

from snncc.errors import PassError
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import run, verify
from snncc.passes import (PassContext, PassManager, balance_thresholds, fold_out_scale, lower_rate,
                          maxpool_to_relu_tree)
from tests.helpers import make_model, rand


def conv_pool_net():
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"]),
             helper.make_node("AveragePool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p2"], ["f"]),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1)]
    inits = {"w1": rand(4, 1, 3, 3, seed=1), "b1": rand(4, seed=2), "w2": rand(3, 4, 3, 3, seed=3),
             "lo": np.array(0.0, np.float32), "hi": np.array(1.5, np.float32), "w3": rand(5, 12, seed=4),
             "b3": rand(5, seed=5)}
    return onnx_to_ir(prepare(make_model(nodes, (1, 8, 8), None, inits)))


def _out(graph, x):
    return run(graph, x)[graph.outputs[0]]


@pytest.mark.parametrize("mode", ["layer", "channel"])
def test_balance_gives_thresholds_that_clip_little(mode):
    g = conv_pool_net()
    x = np.abs(rand(64, 1, 8, 8, seed=9))
    ctx = PassContext(calibration=x)
    balanced = balance_thresholds(g, ctx, mode=mode, stat="max").graph
    verify(balanced)
    ops = [n.op for n in balanced.nodes]
    assert ops.count("bounded_relu") == 2 and "relu" not in ops and "clip" not in ops
    clip_theta = [n for n in balanced.nodes if n.op == "bounded_relu"][1]
    assert float(balanced.constants[clip_theta.theta]) == 1.5  # data-free from Clip(0, 1.5)
    # with the max statistic nothing on the calibration data is clipped
    np.testing.assert_allclose(_out(balanced, x), _out(g, x), atol=1e-5)


def test_thresholds_are_monotone_in_the_percentile():
    g = conv_pool_net()
    ctx = PassContext(calibration=np.abs(rand(64, 1, 8, 8, seed=9)))
    thetas = []
    for q in (90.0, 99.0, 99.9, 100.0):
        b = balance_thresholds(g, ctx, mode="layer", stat="percentile", q=q).graph
        thetas.append(float(b.constants[[n for n in b.nodes if n.op == "bounded_relu"][0].theta]))
    assert thetas == sorted(thetas) and thetas[0] < thetas[-1]


def test_maxpool_tree_is_exact_in_ann_mode():
    g = conv_pool_net()
    x = np.abs(rand(16, 1, 8, 8, seed=7))
    balanced = balance_thresholds(g, PassContext(calibration=x), stat="max").graph
    tree = maxpool_to_relu_tree(balanced, PassContext())
    assert tree.modified and "max_pool" not in [n.op for n in tree.graph.nodes]
    verify(tree.graph)
    np.testing.assert_allclose(_out(tree.graph, x), _out(balanced, x), atol=1e-5)
    assert not maxpool_to_relu_tree(tree.graph, PassContext()).modified


def test_lower_rate_and_fold_out_scale_keep_the_rate_limit():
    g = conv_pool_net()
    x = np.abs(rand(16, 1, 8, 8, seed=7))
    balanced = balance_thresholds(g, PassContext(calibration=x), mode="channel").graph
    lowered = lower_rate(maxpool_to_relu_tree(balanced, PassContext()).graph, PassContext()).graph
    assert {n.op for n in lowered.nodes if n.spiking} == {"if_neuron"}
    np.testing.assert_allclose(_out(lowered, x), _out(balanced, x), atol=1e-5)
    folded = fold_out_scale(lowered, PassContext())
    assert folded.modified
    assert all(n.out_scale is None for n in folded.graph.nodes if n.spiking)
    np.testing.assert_allclose(_out(folded.graph, x), _out(balanced, x), atol=1e-4)


def test_rate_refuses_sigmoid_with_a_clear_message():
    # inside the network (a final Sigmoid is an output tail, applied at readout)
    model = make_model([helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("MatMul", ["s", "w"], ["y"])],
                       (4,), (4,), {"w": np.eye(4, dtype=np.float32)})
    with pytest.raises(PassError, match=r"pass 'lower-rate' failed on node %.*sigmoid.*--coding amos"):
        PassManager("lower-rate").run(onnx_to_ir(prepare(model)))


def test_pass_manager_names_earlier_passes():
    with pytest.raises(PassError, match=r"after: fold-bn"):
        PassManager("fold-bn,lower-rate").run(conv_pool_net())


def test_calibrate_records_input_statistics_for_every_gate_reading_a_value():
    from snncc.passes import collect_stats

    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["x"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["y"])]
    g = onnx_to_ir(prepare(make_model(nodes, (4,), (4,))))
    x = rand(32, 4)
    stats = collect_stats(g, x)
    assert len(stats) == 2
    for s in stats.values():
        assert s.input_min == float(x.min()) and s.input_max == float(x.max())


def test_clip_models_compile_without_calibration_data():
    import snncc
    from snncc.errors import DataError

    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], transB=1),
             helper.make_node("Clip", ["h", "lo", "hi"], ["c"]),
             helper.make_node("Gemm", ["c", "w2"], ["y"], transB=1)]
    inits = {"w": rand(6, 4), "lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32), "w2": rand(3, 6)}
    model = make_model(nodes, (4,), (3,), inits)
    snn = snncc.compile(model, coding="rate")
    assert [float(snn.constants[n.theta]) for n in snn.nodes if n.op == "if_neuron"] == [6.0]
    relu_model = make_model([helper.make_node("Relu", ["x"], ["y"])], (4,), (4,))
    with pytest.raises(DataError, match="calibration data is needed"):
        snncc.compile(relu_model, coding="rate")
