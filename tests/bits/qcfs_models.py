"""Small QCFS-trained-style ONNX models for the bits/signed tests, with the activation exported the way torch writes
it (models/qcfs.py: Div(lam) -> Mul(L) -> Add(0.5) -> Floor -> Div(L) -> Clip(0, 1) -> Mul(lam)) or commuted."""

from __future__ import annotations

import numpy as np
from onnx import helper

from tests.helpers import make_model


def qcfs_nodes(x: str, out: str, lam: str, levels: int, tag: str, init: dict, variant: str = "torch") -> list:
    """The QCFS activation lam * clip(floor(x L / lam + 1/2) / L, 0, 1) as ONNX nodes (constants go into `init`).

    variant `torch`: Div(lam), Mul(L), Add(0.5), Floor, Div(L), Clip(0, 1), Mul(lam)
    variant `commuted`: Mul(L / lam), Add(0.5), Floor, Clip(0, L), Mul(lam / L)"""
    lam_value = np.asarray(init[lam], np.float32)
    init[f"{tag}_L"] = np.array(float(levels), np.float32)
    init[f"{tag}_half"] = np.array(0.5, np.float32)
    init[f"{tag}_zero"] = np.array(0.0, np.float32)
    if variant == "torch":
        init[f"{tag}_one"] = np.array(1.0, np.float32)
        return [
            helper.make_node("Div", [x, lam], [f"{tag}_d"], name=f"{tag}_div"),
            helper.make_node("Mul", [f"{tag}_d", f"{tag}_L"], [f"{tag}_m"], name=f"{tag}_mul"),
            helper.make_node("Add", [f"{tag}_m", f"{tag}_half"], [f"{tag}_a"], name=f"{tag}_add"),
            helper.make_node("Floor", [f"{tag}_a"], [f"{tag}_f"], name=f"{tag}_floor"),
            helper.make_node("Div", [f"{tag}_f", f"{tag}_L"], [f"{tag}_q"], name=f"{tag}_divL"),
            helper.make_node("Clip", [f"{tag}_q", f"{tag}_zero", f"{tag}_one"], [f"{tag}_c"], name=f"{tag}_clip"),
            helper.make_node("Mul", [f"{tag}_c", lam], [out], name=f"{tag}_scale"),
        ]
    if variant == "commuted":
        init.pop(lam)
        init[f"{tag}_gain"] = (np.float32(levels) / lam_value).astype(np.float32)
        init[f"{tag}_step"] = (lam_value / np.float32(levels)).astype(np.float32)
        return [
            helper.make_node("Mul", [f"{tag}_gain", x], [f"{tag}_m"], name=f"{tag}_mul"),
            helper.make_node("Add", [f"{tag}_half", f"{tag}_m"], [f"{tag}_a"], name=f"{tag}_add"),
            helper.make_node("Floor", [f"{tag}_a"], [f"{tag}_f"], name=f"{tag}_floor"),
            helper.make_node("Clip", [f"{tag}_f", f"{tag}_zero", f"{tag}_L"], [f"{tag}_c"], name=f"{tag}_clip"),
            helper.make_node("Mul", [f"{tag}_c", f"{tag}_step"], [out], name=f"{tag}_scale"),
        ]
    raise ValueError(variant)


def qcfs_cnn(levels: int, seed: int = 0, variant: str = "torch", per_channel: bool = False, bn: bool = True):
    """x(1,8,8) -> conv3x3(4)[+BN] -> QCFS -> avgpool2 -> conv3x3(6) -> QCFS -> flatten -> gemm(16) -> QCFS ->
    gemm(10). lam is per layer (or per channel of the first layer with `per_channel`)."""
    rng = np.random.default_rng(seed)
    init = {
        "w1": rng.normal(0, 0.6, (4, 1, 3, 3)), "b1": rng.normal(0, 0.2, 4),
        "w2": rng.normal(0, 0.4, (6, 4, 3, 3)), "b2": rng.normal(0, 0.2, 6),
        "w3": rng.normal(0, 0.4, (16, 96)), "b3": rng.normal(0, 0.2, 16),
        "w4": rng.normal(0, 0.5, (10, 16)), "b4": rng.normal(0, 0.1, 10),
        "lam1": rng.uniform(1.0, 2.0, (1, 4, 1, 1)) if per_channel else np.array(1.5),
        "lam2": np.array(1.7), "lam3": np.array(1.3),
    }
    init = {k: np.asarray(v, np.float32) for k, v in init.items()}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1])]
    first = "c1"
    if bn:
        init.update({"g1": rng.uniform(0.8, 1.2, 4), "be1": rng.normal(0, 0.1, 4), "mu1": rng.normal(0, 0.1, 4),
                     "var1": rng.uniform(0.5, 1.5, 4)})
        init = {k: np.asarray(v, np.float32) for k, v in init.items()}
        nodes.append(helper.make_node("BatchNormalization", ["c1", "g1", "be1", "mu1", "var1"], ["n1"], name="bn1"))
        first = "n1"
    nodes += qcfs_nodes(first, "a1", "lam1", levels, "q1", init, variant)
    nodes += [helper.make_node("AveragePool", ["a1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
              helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1])]
    nodes += qcfs_nodes("c2", "a2", "lam2", levels, "q2", init, variant)
    nodes += [helper.make_node("Flatten", ["a2"], ["f"], name="flatten"),
              helper.make_node("Gemm", ["f", "w3", "b3"], ["h"], name="fc1", transB=1)]
    nodes += qcfs_nodes("h", "a3", "lam3", levels, "q3", init, variant)
    nodes += [helper.make_node("Gemm", ["a3", "w4", "b4"], ["y"], name="fc2", transB=1)]
    return make_model(nodes, [1, 8, 8], [10], init)


def inputs(n: int, seed: int = 1) -> np.ndarray:
    """Images in [0, 1] like the bundled digits data."""
    return np.random.default_rng(seed).uniform(0, 1, (n, 1, 8, 8)).astype(np.float32)


def qcfs_maxpool_cnn(levels: int, seed: int = 3):
    """x(1,8,8) -> conv3x3(4) -> QCFS -> MaxPool2 -> flatten -> gemm(10): MaxPool becomes a ReLU tree."""
    rng = np.random.default_rng(seed)
    init = {"w1": rng.normal(0, 0.6, (4, 1, 3, 3)), "b1": rng.normal(0, 0.2, 4), "lam": np.array(1.4),
            "w2": rng.normal(0, 0.4, (10, 64)), "b2": np.zeros(10)}
    init = {k: np.asarray(v, np.float32) for k, v in init.items()}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1])]
    nodes += qcfs_nodes("c1", "a1", "lam", levels, "q1", init)
    nodes += [helper.make_node("MaxPool", ["a1"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
              helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
              helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], name="fc", transB=1)]
    return make_model(nodes, [1, 8, 8], [10], init)
