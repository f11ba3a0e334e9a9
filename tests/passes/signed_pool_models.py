"""Small ONNX models with a MaxPool after an input that can be negative (issue 14 item 3), built with onnx.helper."""

from __future__ import annotations

import numpy as np
from onnx import helper

from tests.helpers import make_model, rand

SHAPE = (2, 8, 8)


def images(n: int, seed: int = 0) -> np.ndarray:
    """n inputs of shape (2, 8, 8), signed (uniform in [-1, 1])."""
    return (np.random.default_rng(seed).random((n, *SHAPE), dtype=np.float32) * 2 - 1).astype(np.float32)


def _head(src: str, channels: int, hw: int) -> tuple[list, dict]:
    nodes = [helper.make_node("Conv", [src, "wh", "bh"], ["ch"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["ch"], ["rh"]),
             helper.make_node("Flatten", ["rh"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    init = {"wh": rand(4, channels, 3, 3, seed=21, scale=0.4), "bh": rand(4, seed=22, scale=0.1),
            "wf": rand(5, 4 * hw * hw, seed=23, scale=0.3), "bf": rand(5, seed=24, scale=0.1)}
    return nodes, init


def _pool(src: str) -> list:
    # 3x3 stride 2 pad 1: the padded border taps must never win
    return [helper.make_node("MaxPool", [src], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])]


def gate_model(gate: str):
    """Conv -> gate (LeakyRelu, HardSwish, ...) -> MaxPool 3x3/2 pad 1 -> Conv+ReLU -> Gemm."""
    attrs = {"alpha": 0.01} if gate == "LeakyRelu" else {}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node(gate, ["c1"], ["a1"], **attrs)] + _pool("a1")
    head, init = _head("p", 3, 4)
    # gate inputs inside [-4, 4], the shipped circuit table's range (no refit)
    init.update({"w1": rand(3, 2, 3, 3, seed=1, scale=0.3), "b1": rand(3, seed=2, scale=0.3)})
    return make_model(nodes + head, SHAPE, [5], init)


def residual_model():
    """Conv+ReLU a; b = Conv(a) (no gate); MaxPool(a + b) 3x3/2 pad 1 -> Conv+ReLU -> Gemm."""
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["a"]),
             helper.make_node("Conv", ["a", "w2", "b2"], ["b"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["a", "b"], ["s"])] + _pool("s")
    head, init = _head("p", 3, 4)
    init.update({"w1": rand(3, 2, 3, 3, seed=1, scale=0.8), "b1": rand(3, seed=2, scale=0.3),
                 "w2": rand(3, 3, 3, 3, seed=3, scale=0.6), "b2": rand(3, seed=4, scale=0.3) - 0.5})
    return make_model(nodes + head, SHAPE, [5], init)


def input_model():
    """MaxPool 3x3/2 pad 1 right on the (signed) input -> Conv+ReLU -> Gemm."""
    head, init = _head("p", 2, 4)
    return make_model(_pool("x") + head, SHAPE, [5], init)
