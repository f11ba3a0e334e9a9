"""Small ONNX models for the AMOS tests, built with onnx.helper (weights scaled so that the gate inputs stay inside
the shipped table's standard ranges: sigmoid [-10, 10], SiLU [-4, 4])."""

from __future__ import annotations

import numpy as np
from onnx import helper

from tests.helpers import make_model, rand

INPUT_SHAPE = (1, 8, 8)


def images(n: int, seed: int = 0) -> np.ndarray:
    """n images in [0, 1] of shape (1, 8, 8)."""
    return np.random.default_rng(seed).random((n, *INPUT_SHAPE), dtype=np.float32)


def silu_se_model():
    """Conv+BN+SiLU, a squeeze-excitation sigmoid gate (x * sigmoid(s)), a tanh layer, AvgPool, Gemm."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "mean", "var"], ["bn"]),
        helper.make_node("Sigmoid", ["bn"], ["sg"]),
        helper.make_node("Mul", ["bn", "sg"], ["a1"]),                       # SiLU
        helper.make_node("GlobalAveragePool", ["a1"], ["gp"]),
        helper.make_node("Conv", ["gp", "wse", "bse"], ["se"]),
        helper.make_node("Sigmoid", ["se"], ["gate"]),
        helper.make_node("Mul", ["a1", "gate"], ["scaled"]),                 # x * sigmoid(s): stays non-spiking
        helper.make_node("AveragePool", ["scaled"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Tanh", ["c2"], ["t2"]),
        helper.make_node("Flatten", ["t2"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    init = {
        "w1": rand(4, 1, 3, 3, seed=1, scale=0.5), "b1": rand(4, seed=2, scale=0.1),
        "g": np.abs(rand(4, seed=3)) + 0.5, "beta": rand(4, seed=4, scale=0.2), "mean": rand(4, seed=5, scale=0.1),
        "var": np.abs(rand(4, seed=6)) + 0.5,
        "wse": rand(4, 4, 1, 1, seed=7), "bse": rand(4, seed=8, scale=0.1),
        "w2": rand(6, 4, 3, 3, seed=9, scale=0.3), "b2": rand(6, seed=10, scale=0.1),
        "wf": rand(10, 6 * 4 * 4, seed=11, scale=0.3), "bf": rand(10, seed=12, scale=0.1),
    }
    return make_model(nodes, INPUT_SHAPE, [10], init)


def relu_maxpool_model():
    """Conv+ReLU, MaxPool 2x2, Conv+Relu, a residual Add, Gemm+ReLU, Gemm."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Add", ["r2", "p1"], ["res"]),
        helper.make_node("Flatten", ["res"], ["f"]),
        helper.make_node("Gemm", ["f", "wf1", "bf1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Gemm", ["hr", "wf2", "bf2"], ["y"], transB=1),
    ]
    init = {
        "w1": rand(4, 1, 3, 3, seed=1, scale=0.6), "b1": rand(4, seed=2, scale=0.1),
        "w2": rand(4, 4, 3, 3, seed=3, scale=0.3), "b2": rand(4, seed=4, scale=0.1),
        "wf1": rand(16, 64, seed=5, scale=0.3), "bf1": rand(16, seed=6, scale=0.1),
        "wf2": rand(10, 16, seed=7, scale=0.3), "bf2": rand(10, seed=8, scale=0.1),
    }
    return make_model(nodes, INPUT_SHAPE, [10], init)


def hardswish_model():
    """Conv+HardSwish with inputs well beyond [-3, 3], a squeeze-excitation HardSigmoid (x * hsig(s)), Conv +
    HardSwish, Gemm: the gates of PP-LCNet / MobileNetV3."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("HardSwish", ["c1"], ["a1"]),
        helper.make_node("GlobalAveragePool", ["a1"], ["gp"]),
        helper.make_node("Conv", ["gp", "wse", "bse"], ["se"]),
        helper.make_node("HardSigmoid", ["se"], ["gate"], alpha=1 / 6, beta=0.5),
        helper.make_node("Mul", ["a1", "gate"], ["scaled"]),
        helper.make_node("Conv", ["scaled", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("HardSwish", ["c2"], ["a2"]),
        helper.make_node("Flatten", ["a2"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    init = {
        "w1": rand(4, 1, 3, 3, seed=1, scale=4.0), "b1": rand(4, seed=2, scale=1.0),
        "wse": rand(4, 4, 1, 1, seed=7, scale=2.0), "bse": rand(4, seed=8, scale=0.5),
        "w2": rand(6, 4, 3, 3, seed=9, scale=0.5), "b2": rand(6, seed=10, scale=0.5),
        "wf": rand(10, 6 * 4 * 4, seed=11, scale=0.3), "bf": rand(10, seed=12, scale=0.1),
    }
    return make_model(nodes, INPUT_SHAPE, [10], init)
