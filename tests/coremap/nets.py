"""Small compiled networks for the mapping tests: ONNX models built with onnx.helper, compiled with the rate coding
on random non-negative calibration data (a CNN with AvgPool, a residual net with global average pooling, a CNN with
MaxPool), plus the bundled digits MLP."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from onnx import helper

import snncc
from tests.helpers import make_model

MODELS = Path(__file__).resolve().parents[2] / "models"


def _init(rng, **shapes):
    return {k: (rng.normal(0, 1.0 / np.sqrt(np.prod(s[1:]) if len(s) > 1 else 1), s)).astype(np.float32)
            for k, s in shapes.items()}


def cnn_model():
    """x(1,8,8) -> conv3x3(8) -> relu -> avgpool2 -> conv3x3(12) -> relu -> flatten -> gemm(24) -> relu -> gemm(10)."""
    rng = np.random.default_rng(1)
    init = _init(rng, w1=(8, 1, 3, 3), w2=(12, 8, 3, 3), w3=(24, 192), w4=(10, 24))
    init.update(b1=np.full(8, 0.05, np.float32), b2=np.zeros(12, np.float32), b3=np.full(24, 0.02, np.float32),
                b4=np.zeros(10, np.float32))
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("AveragePool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Flatten", ["r2"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["g3"], name="fc1", transB=1),
             helper.make_node("Relu", ["g3"], ["r3"], name="relu3"),
             helper.make_node("Gemm", ["r3", "w4", "b4"], ["y"], name="fc2", transB=1)]
    return make_model(nodes, [1, 8, 8], [10], init)


def resnet_model():
    """x(1,8,8) -> conv3x3(8) -> relu -> [conv3x3 -> relu -> conv3x3 -> + skip -> relu] -> GAP -> gemm(10)."""
    rng = np.random.default_rng(2)
    init = _init(rng, w1=(8, 1, 3, 3), w2=(8, 8, 3, 3), w3=(8, 8, 3, 3), w4=(10, 8))
    init.update(b4=np.zeros(10, np.float32))
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="stem", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv_a", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Conv", ["r2", "w3"], ["c3"], name="conv_b", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c3", "r1"], ["s"], name="skip"),
             helper.make_node("Relu", ["s"], ["r3"], name="relu3"),
             helper.make_node("GlobalAveragePool", ["r3"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w4", "b4"], ["y"], name="fc", transB=1)]
    return make_model(nodes, [1, 8, 8], [10], init)


def maxpool_model():
    """x(1,10,10) -> conv3x3(6) -> relu -> maxpool2 -> conv3x3(8, stride 2) -> relu -> flatten -> gemm(10)."""
    rng = np.random.default_rng(3)
    init = _init(rng, w1=(6, 1, 3, 3), w2=(8, 6, 3, 3), w3=(10, 72))
    init.update(b3=np.zeros(10, np.float32))
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Flatten", ["r2"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc", transB=1)]
    return make_model(nodes, [1, 10, 10], [10], init)


def calibration(shape, n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, *shape)).astype(np.float32)


@lru_cache(maxsize=None)
def compiled(name: str, timesteps: int = 16):
    """(graph, calibration x) of a named test network."""
    if name == "digits_mlp":
        x = np.load(MODELS / "data" / "digits_calib.npz")["x"][:64].astype(np.float32)
        return snncc.compile(str(MODELS / "digits_mlp.onnx"), "rate", timesteps=timesteps, calibration=x), x
    model = {"cnn": cnn_model, "resnet": resnet_model, "maxpool": maxpool_model}[name]()
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    x = calibration(shape)
    return snncc.compile(model, "rate", timesteps=timesteps, calibration=x), x


NETS = ("digits_mlp", "cnn", "resnet", "maxpool")


def dense_chain_graph(w1: np.ndarray, w2: np.ndarray, w3: np.ndarray, timesteps: int = 8):
    """x -> dense w1 -> IF population a -> dense w2 -> IF population b -> readout w3 (no biases, thresholds 1)."""
    from snncc.ir import Dense, Graph, IFNeuron, Input, TensorType
    from snncc.ir.node import ConstRef

    n_a, n_b = w1.shape[0], w2.shape[0]
    consts = {"w1": w1, "w2": w2, "w3": w3, "ta": np.ones(n_a, np.float32), "tb": np.ones(n_b, np.float32)}
    nodes = [Input(name="x", type=TensorType((w1.shape[1],))),
             Dense(name="d1", inputs=("x",), type=TensorType((n_a,)), weight=ConstRef("w1"), bias=None),
             IFNeuron(name="a", inputs=("d1",), type=TensorType((n_a,)), theta=ConstRef("ta"), v0=0.5),
             Dense(name="d2", inputs=("a",), type=TensorType((n_b,)), weight=ConstRef("w2"), bias=None),
             IFNeuron(name="b", inputs=("d2",), type=TensorType((n_b,)), theta=ConstRef("tb"), v0=0.5),
             Dense(name="y", inputs=("b",), type=TensorType((w3.shape[0],)), weight=ConstRef("w3"), bias=None)]
    return Graph.build(nodes, ["y"], consts, {"coding": "rate", "timesteps": str(timesteps)})
