"""balance-thresholds{stat=max-input-current}: thresholds from per-step SNN input currents, layer by layer."""

import numpy as np

import snncc
from snncc.frontend import import_onnx
from snncc.ir import run
from snncc.passes import PassContext, balance_thresholds, fold_affine, fold_bn


def _thetas(graph):
    return {n.name: graph.constants[n.theta].copy() for n in graph.nodes if n.op == "bounded_relu"}


def _mlp():
    return fold_affine(fold_bn(import_onnx("models/digits_mlp.onnx"), PassContext()).graph, PassContext()).graph


def test_first_layer_theta_is_the_max_analog_current():
    x = np.load("models/data/digits_calib.npz")["x"][:64]
    g = _mlp()
    balanced = balance_thresholds(g, PassContext(calibration=x, timesteps=8), mode="layer",
                                  stat="max-input-current", q=100).graph
    first_relu = next(n for n in g.nodes if n.op == "relu")
    pre_activation = run(g, x, keep=[first_relu.inputs[0]])[first_relu.inputs[0]]
    np.testing.assert_allclose(_thetas(balanced)[first_relu.name], pre_activation.max(), rtol=1e-5)


def test_balancing_is_sequential_later_layers_do_not_move_earlier_thresholds():
    x = np.load("models/data/digits_calib.npz")["x"][:64]
    g = _mlp()
    ctx = PassContext(calibration=x, timesteps=8)
    before = _thetas(balance_thresholds(g, ctx, mode="channel", stat="max-input-current", q=100).graph)
    # scale the weights of the last hidden layer: only its own threshold may change
    layers = [n for n in g.nodes if n.op == "dense"]
    w = g.constants[layers[1].weight] * 3
    changed = g.with_(constants={layers[1].weight: w})
    after = _thetas(balance_thresholds(changed, ctx, mode="channel", stat="max-input-current", q=100).graph)
    relus = [n.name for n in g.nodes if n.op == "relu"]
    np.testing.assert_array_equal(before[relus[0]], after[relus[0]])
    assert not np.allclose(before[relus[1]], after[relus[1]])


def test_compile_with_max_input_current_reaches_ann_accuracy():
    from snncc.backends.simulator import simulate

    calib = np.load("models/data/digits_calib.npz")["x"]
    test = np.load("models/data/digits_test.npz")
    snn = snncc.compile("models/digits_mlp.onnx", calibration=calib, stat="max-input-current", percentile=100)
    ann = run(import_onnx("models/digits_mlp.onnx"), test["x"])
    ann_acc = float(np.mean(next(iter(ann.values())).argmax(-1) == test["y"]))
    snn_acc = float(np.mean(simulate(snn, test["x"], 64).predictions[64] == test["y"]))
    assert snn_acc >= ann_acc - 0.02
