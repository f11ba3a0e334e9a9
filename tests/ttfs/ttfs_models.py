"""Small ONNX models for the TTFS tests whose activations lie on an integer grid: with Clip(0, c) thresholds
(data-free) and K = c steps, Delta = 1 and the TTFS network must equal onnxruntime exactly."""

from __future__ import annotations

import numpy as np
from onnx import helper

from tests.helpers import make_model

GRID = 32   # Clip(0, GRID): theta = GRID, and -K GRID gives Delta = 1


def integer_input(n: int, shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, (n,) + tuple(shape)).astype(np.float32)


def dense_clip(seed: int = 0):
    """x(12) -> Gemm(16) -> Clip(0, GRID) -> Gemm(5), integer weights and biases."""
    rng = np.random.default_rng(seed)
    init = {"w1": rng.integers(-2, 3, (16, 12)), "b1": rng.integers(-3, 4, 16),
            "w2": rng.integers(-2, 3, (5, 16)), "b2": rng.integers(-3, 4, 5),
            "lo": np.array(0.0), "hi": np.array(float(GRID))}
    init = {k: np.asarray(v, np.float32) for k, v in init.items()}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Clip", ["h", "lo", "hi"], ["r"], name="clip1"),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2", transB=1)]
    return make_model(nodes, [12], [5], init)


def residual_pool_cnn(seed: int = 0):
    """x(1,8,8) -> conv3x3(4) -> Clip -> MaxPool2 -> conv3x3(4) -> Clip -> conv3x3(4) -> + pool (skip) -> Clip ->
    AveragePool2 -> Flatten -> Gemm(3). Integer weights; the AveragePool's 1/4 keeps the grid (Gemm weights x4)."""
    rng = np.random.default_rng(seed)
    init = {"w1": rng.integers(-1, 2, (4, 1, 3, 3)), "b1": rng.integers(-1, 3, 4),
            "w2": rng.integers(-1, 2, (4, 4, 3, 3)), "b2": rng.integers(-2, 3, 4),
            "w3": rng.integers(-1, 2, (4, 4, 3, 3)), "b3": rng.integers(-2, 3, 4),
            "wf": rng.integers(-2, 3, (3, 16)) * 4, "bf": rng.integers(-3, 4, 3),
            "lo": np.array(0.0), "hi": np.array(float(GRID))}
    init = {k: np.asarray(v, np.float32) for k, v in init.items()}
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"], name="clip1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="clip2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c3", "p1"], ["s3"], name="skip"),
        helper.make_node("Clip", ["s3", "lo", "hi"], ["r3"], name="clip3"),
        helper.make_node("AveragePool", ["r3"], ["a3"], name="avg", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["a3"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    return make_model(nodes, [1, 8, 8], [3], init)
