"""A small CNN that uses every op of issue 14 item 7 between ReLU layers (for end-to-end tests)."""

from __future__ import annotations

import numpy as np
from onnx import helper

from tests.helpers import make_model, rand

SHAPE = (2, 8, 8)


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *SHAPE), dtype=np.float32)


def index_ops_model():
    """Pad -> Conv+ReLU -> Split (channels) -> nearest Resize x2 of one part, bilinear Resize of the other -> Slice
    (crop) -> Concat on H -> ConvTranspose (stride 2) + ReLU -> Transpose (H, W) -> Conv+ReLU -> Gemm."""
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["xp"]),
        helper.make_node("Conv", ["xp", "w1", "b1"], ["c1"], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),                                      # (4, 4, 4)
        helper.make_node("Split", ["r1", "split"], ["s0", "s1"], axis=1),             # (2, 4, 4) each
        helper.make_node("Resize", ["s0", "", "up"], ["u0"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),      # (2, 8, 8)
        helper.make_node("Resize", ["s1", "", "up"], ["u1"], mode="linear"),                      # (2, 8, 8)
        helper.make_node("Slice", ["u1", "starts", "ends", "axes"], ["u1c"]),                     # (2, 4, 8)
        helper.make_node("Concat", ["u0", "u1c"], ["cat"], axis=2),                               # (2, 12, 8)
        helper.make_node("ConvTranspose", ["cat", "wt", "bt"], ["ct"], strides=[2, 2], pads=[1, 1, 1, 1],
                         output_padding=[1, 1]),                                                  # (3, 24, 16)
        helper.make_node("Relu", ["ct"], ["r2"]),
        helper.make_node("Transpose", ["r2"], ["tr"], perm=[0, 1, 3, 2]),                         # (3, 16, 24)
        helper.make_node("Conv", ["tr", "w3", "b3"], ["c3"], strides=[4, 4]),
        helper.make_node("Relu", ["c3"], ["r3"]),                                                 # (4, 4, 6)
        helper.make_node("Flatten", ["r3"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    init = {
        "pads": np.asarray([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
        "w1": rand(4, 2, 3, 3, seed=1, scale=0.6), "b1": rand(4, seed=2, scale=0.1) + 0.1,
        "split": np.asarray([2, 2], np.int64), "up": np.asarray([1, 1, 2, 2], np.float32),
        "starts": np.asarray([2], np.int64), "ends": np.asarray([6], np.int64), "axes": np.asarray([2], np.int64),
        "wt": rand(2, 3, 3, 3, seed=3, scale=0.5), "bt": rand(3, seed=4, scale=0.1) + 0.05,
        "w3": rand(4, 3, 4, 4, seed=5, scale=0.3), "b3": rand(4, seed=6, scale=0.1),
        "wf": rand(6, 96, seed=7, scale=0.3), "bf": rand(6, seed=8, scale=0.1),
    }
    return make_model(nodes, SHAPE, [6], init)
