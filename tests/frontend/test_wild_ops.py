"""Ops met in third-party models (the onnx backend zoo, PP-OCR exports): each converts, the IR's ANN-mode forward
pass equals onnxruntime, and a small model using it compiles to an SNN that predicts what onnxruntime predicts."""

import numpy as np
from onnx import helper

import snncc
from snncc.backends.simulator import simulate
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import run
from tests.helpers import make_model, onnxruntime_run, rand


def _check(model, x, atol=1e-5):
    graph = onnx_to_ir(prepare(model))
    np.testing.assert_allclose(run(graph, x)[graph.outputs[0]], onnxruntime_run(model, x), atol=atol, rtol=1e-5)
    return graph


def _residual(op: str, extra: list[str], inits: dict, head: bool = False):
    """conv -> relu, joined with the input by `op`; `head`: then relu -> global pool -> dense logits."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node(op, ["r", "x", *extra], ["s" if head else "y"])]
    if head:
        nodes += [helper.make_node("Relu", ["s"], ["h"]), helper.make_node("GlobalAveragePool", ["h"], ["g"]),
                  helper.make_node("Flatten", ["g"], ["f"]), helper.make_node("Gemm", ["f", "fc"], ["y"])]
        inits = {**inits, "fc": rand(2, 3, seed=5)}
    return make_model(nodes, (2, 4, 4), None, {"w": rand(2, 2, 3, 3), **inits})


def test_sum_of_three_tensors_is_one_add():
    """ResNet-50 and ShuffleNet in the onnx backend zoo (opset 9) join residuals with Sum."""
    graph = _check(_residual("Sum", ["x"], {}), rand(3, 2, 4, 4))
    assert [n.op for n in graph.nodes].count("add") == 1


def test_sum_and_mean_with_a_constant_operand():
    bias = rand(1, 2, 1, 1, seed=4)
    for op in ("Sum", "Mean"):
        _check(_residual(op, ["b"], {"b": bias}), rand(3, 2, 4, 4))


def test_sum_of_one_tensor_and_mean_of_two():
    _check(make_model([helper.make_node("Sum", ["x"], ["y"])], (5,), (5,)), rand(3, 5))
    _check(_residual("Mean", [], {}), rand(3, 2, 4, 4))


def test_resnet_block_joined_by_sum_compiles_to_an_snn_that_agrees():
    model = _residual("Sum", [], {}, head=True)
    x = np.abs(rand(64, 2, 4, 4, seed=7))
    snn = snncc.compile(model, coding="rate", timesteps=64, calibration=x)
    logits = simulate(snn, x, 64).outputs[64]
    assert np.mean(logits.argmax(-1) == onnxruntime_run(model, x).argmax(-1)) >= 0.9


def _fire_module():
    """SqueezeNet's fire module: two expand branches (1x1, 3x3) joined on channels, then a max pool and a head."""
    nodes = [helper.make_node("Conv", ["x", "e1"], ["a"]), helper.make_node("Relu", ["a"], ["ra"]),
             helper.make_node("Conv", ["x", "e3"], ["b"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["b"], ["rb"]),
             helper.make_node("Concat", ["ra", "rb"], ["cat"], axis=1),
             helper.make_node("MaxPool", ["cat"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["p"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"])]
    inits = {"e1": rand(3, 2, 1, 1, seed=1), "e3": rand(2, 2, 3, 3, seed=2), "fc": rand(5, 3, seed=3)}
    return make_model(nodes, (2, 6, 6), None, inits)


def test_a_pool_of_a_channel_concat_pools_each_branch():
    graph = _check(_fire_module(), rand(3, 2, 6, 6))
    pools = [n for n in graph.nodes if n.op == "max_pool"]
    assert len(pools) == 2 and {graph.node(p.inputs[0]).op for p in pools} == {"relu"}


def test_squeezenet_like_pool_after_concat_compiles_with_ttfs():
    """The TTFS first-spike pool needs a ReLU population as its input; it refused SqueezeNet and Inception-v2."""
    from snncc.check import check_model

    model = _fire_module()
    assert check_model(model, ["ttfs"]).working() == ["ttfs"]
    x = np.abs(rand(64, 2, 6, 6, seed=8))
    snn = snncc.compile(model, coding="ttfs", calibration=x)
    steps = int(snn.meta["latency_steps"])
    result = simulate(snn, x, steps)
    assert np.mean(result.predictions[steps] == onnxruntime_run(model, x).argmax(-1)) >= 0.9


def test_sigmoid_and_silu_of_very_negative_values_warn_nothing():
    """PP-OCRv4's DB head feeds logits below -88 to its Sigmoid: compile printed numpy's overflow warning."""
    import warnings

    model = make_model([helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["y"])],
                       (3,), (3,))
    graph = onnx_to_ir(prepare(model))
    x = np.array([[-200.0, 0.0, 200.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = run(graph, x, keep="all")
    np.testing.assert_allclose(y[graph.outputs[0]], onnxruntime_run(model, x), atol=1e-6)


def test_max_with_minus_infinity_is_the_identity():
    """jax2tf writes every softmax's max as max(-inf, reduce_max(x)): -inf is Max's identity, not a broken weight."""
    nodes = [helper.make_node("Max", ["ninf", "x"], ["m"], name="max"), helper.make_node("Min", ["m", "pinf"], ["y"])]
    model = make_model(nodes, (6,), (6,), {"ninf": np.float32(-np.inf), "pinf": np.float32(np.inf)})
    graph = onnx_to_ir(prepare(model))
    x = rand(3, 6)
    np.testing.assert_array_equal(run(graph, x)[graph.outputs[0]], onnxruntime_run(model, x))


def test_a_diverged_weight_is_still_refused_in_max():
    import pytest
    from snncc.errors import UnsupportedModelError

    model = make_model([helper.make_node("Max", ["c", "x"], ["y"])], (6,), (6,), {"c": np.float32(np.inf)})
    with pytest.raises(UnsupportedModelError, match="1 Inf value"):
        prepare(model)
