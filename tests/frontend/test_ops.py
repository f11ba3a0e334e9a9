"""Each supported ONNX op: the IR's ANN-mode forward pass equals onnxruntime to 1e-5."""

import numpy as np
import pytest
from onnx import helper

from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import run, verify
from tests.helpers import make_model, onnxruntime_run, rand

N = 3


def _check(model, x, atol=1e-5):
    graph = onnx_to_ir(prepare(model))
    verify(graph)
    ours = run(graph, x)[graph.outputs[0]]
    ref = onnxruntime_run(model, x)
    np.testing.assert_allclose(ours, ref, atol=atol, rtol=1e-5)
    return graph


def conv_model(**attrs):
    w = rand(4, 2 // attrs.get("group", 1) if attrs.get("group", 1) <= 2 else 1, 3, 3, seed=1)
    if attrs.get("group") == 2:
        w = rand(4, 1, 3, 3, seed=1)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)]
    return make_model(nodes, (2, 7, 7), None, {"w": w, "b": rand(4, seed=2)})


@pytest.mark.parametrize("attrs", [
    {},
    {"strides": [2, 2]},
    {"pads": [1, 1, 1, 1]},
    {"pads": [0, 1, 2, 1], "strides": [2, 1]},
    {"dilations": [2, 2], "pads": [2, 2, 2, 2]},
    {"group": 2},
    {"auto_pad": "SAME_UPPER"},
])
def test_conv(attrs):
    _check(conv_model(**attrs), rand(N, 2, 7, 7))


def test_depthwise_conv():
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], group=3, pads=[1, 1, 1, 1])]
    _check(make_model(nodes, (3, 5, 5), None, {"w": rand(3, 1, 3, 3)}), rand(N, 3, 5, 5))


@pytest.mark.parametrize("trans_b,alpha,beta", [(0, 1.0, 1.0), (1, 0.5, 2.0)])
def test_gemm(trans_b, alpha, beta):
    w = rand(6, 5) if trans_b else rand(5, 6)
    nodes = [helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=trans_b, alpha=alpha, beta=beta)]
    _check(make_model(nodes, (5,), (6,), {"w": w, "c": rand(6, seed=3)}), rand(N, 5))


def test_matmul_add():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])]
    _check(make_model(nodes, (5,), (4,), {"w": rand(5, 4), "b": rand(4)}), rand(N, 5))


def test_matmul_constant_left_mixes_nodes():
    adj = np.abs(rand(6, 6))
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("MatMul", ["a", "h"], ["y"])]
    _check(make_model(nodes, (6, 3), (6, 2), {"w": rand(3, 2), "a": adj}), rand(N, 6, 3))


def test_batchnorm_relu_clip():
    nodes = [helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["h"], epsilon=1e-3),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Clip", ["r", "lo", "hi"], ["y"])]
    inits = {"g": rand(2) + 2, "b": rand(2), "m": rand(2), "v": np.abs(rand(2)) + 0.5,
             "lo": np.array(0.0, np.float32), "hi": np.array(0.7, np.float32)}
    _check(make_model(nodes, (2, 4, 4), None, inits), rand(N, 2, 4, 4))


@pytest.mark.parametrize("op,attrs", [("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}),
                                      ("MaxPool", {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]}),
                                      ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]}),
                                      ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                                       "count_include_pad": 1}),
                                      ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                                       "count_include_pad": 0})])
def test_pooling(op, attrs):
    _check(make_model([helper.make_node(op, ["x"], ["y"], **attrs)], (2, 6, 6), None), rand(N, 2, 6, 6))


def test_global_average_pool_flatten_reshape():
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Reshape", ["f", "s"], ["y"])]
    _check(make_model(nodes, (4, 3, 3), (2, 2), {"s": np.array([-1, 2, 2], np.int64)}), rand(N, 4, 3, 3))


def test_residual_add_concat():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Add", ["r", "x"], ["a"]),
             helper.make_node("Concat", ["a", "x"], ["y"], axis=1)]
    _check(make_model(nodes, (2, 4, 4), None, {"w": rand(2, 2, 3, 3)}), rand(N, 2, 4, 4))


def test_input_normalisation_sub_div_mul():
    nodes = [helper.make_node("Sub", ["x", "mean"], ["s"]), helper.make_node("Div", ["s", "std"], ["d"]),
             helper.make_node("Mul", ["d", "k"], ["y"])]
    inits = {"mean": np.array([0.5, 0.2], np.float32).reshape(1, 2, 1, 1),
             "std": np.array([0.25, 0.5], np.float32).reshape(2, 1, 1), "k": np.array(2.0, np.float32)}
    _check(make_model(nodes, (2, 3, 3), None, inits), rand(N, 2, 3, 3))


@pytest.mark.parametrize("op,attrs", [("Sigmoid", {}), ("Tanh", {}), ("LeakyRelu", {"alpha": 0.1}),
                                      ("HardSwish", {}), ("HardSigmoid", {"alpha": 0.25, "beta": 0.4})])
def test_gates(op, attrs):
    # read by a linear layer: a final Sigmoid would be an output tail (dropped, applied at readout)
    nodes = [helper.make_node(op, ["x"], ["g"], **attrs), helper.make_node("MatMul", ["g", "w"], ["y"])]
    graph = _check(make_model(nodes, (5,), (5,), {"w": np.eye(5, dtype=np.float32)}), rand(N, 5, scale=3))
    assert "dropped_tail" not in graph.meta


def test_silu_pattern_becomes_one_gate():
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["y"])]
    graph = _check(make_model(nodes, (5,), (5,)), rand(N, 5, scale=3))
    assert [n.op for n in graph.nodes] == ["input", "silu"]


def test_gelu_opset20():
    model = make_model([helper.make_node("Gelu", ["x"], ["y"])], (5,), (5,), opset=20)
    _check(model, rand(N, 5, scale=3))


def test_identity_dropout_constant_and_final_softmax():
    nodes = [helper.make_node("Constant", [], ["w"], value=helper.make_tensor("w", 1, [4, 3], rand(4, 3).ravel())),
             helper.make_node("Identity", ["x"], ["i"]), helper.make_node("Dropout", ["i"], ["d"]),
             helper.make_node("MatMul", ["d", "w"], ["m"]), helper.make_node("Softmax", ["m"], ["y"], axis=-1)]
    model = make_model(nodes, (4,), (3,))
    graph = onnx_to_ir(prepare(model))
    x = rand(N, 4)
    np.testing.assert_array_equal(run(graph, x)[graph.outputs[0]].argmax(-1), onnxruntime_run(model, x).argmax(-1))


def test_shape_computation_feeding_reshape_is_folded():
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
             helper.make_node("Unsqueeze", ["batch", "axes"], ["b1"]),
             helper.make_node("Concat", ["b1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64), "minus1": np.array([-1], np.int64)}
    model = make_model(nodes, (2, 3, 3), (18,), inits)
    # the batch size is dynamic, so this chain only folds because the per-sample part is static
    try:
        graph = _check(model, rand(N, 2, 3, 3))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"shape chain not folded: {exc}")
    assert [n.op for n in graph.nodes] == ["input", "flatten"]


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_mean_over_space_is_a_global_average_pool(keepdims):
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=keepdims)]
    model = make_model(nodes, (3, 4, 4), None, {"axes": np.array([-2, -1], np.int64)}, opset=18)
    graph = _check(model, rand(N, 3, 4, 4))
    assert "global_avg_pool" in [n.op for n in graph.nodes]


def test_reduce_mean_over_channels_is_refused():
    from snncc.errors import UnsupportedModelError

    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1)]
    model = make_model(nodes, (3, 4, 4), None, {"axes": np.array([1], np.int64)}, opset=18)
    with pytest.raises(UnsupportedModelError, match="spatial axes"):
        onnx_to_ir(prepare(model))
