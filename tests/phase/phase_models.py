"""Small ONNX models for the phase-coding tests: a residual CNN with MaxPool, and a 2-layer GCN on the karate club."""

from __future__ import annotations

import networkx as nx
import numpy as np
from onnx import helper

from tests.helpers import make_model


def residual_cnn(seed: int = 0):
    """x(1,8,8) -> conv3x3(4) -> relu -> maxpool2 -> conv(4) -> relu -> conv(4) -> + skip -> relu -> flatten ->
    gemm(10). The skip edge crosses two spiking layers (relu, relu) on the long path."""
    rng = np.random.default_rng(seed)
    init = {
        "w1": rng.normal(0, 0.5, (4, 1, 3, 3)), "b1": rng.normal(0, 0.1, 4),
        "w2": rng.normal(0, 0.3, (4, 4, 3, 3)), "b2": rng.normal(0, 0.1, 4),
        "w3": rng.normal(0, 0.3, (4, 4, 3, 3)), "b3": rng.normal(0, 0.1, 4),
        "wf": rng.normal(0, 0.3, (10, 64)), "bf": rng.normal(0, 0.1, 10),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c3", "p1"], ["s3"], name="skip"),
        helper.make_node("Relu", ["s3"], ["r3"], name="relu3"),
        helper.make_node("Flatten", ["r3"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
    ]
    return make_model(nodes, [1, 8, 8], [10], init)


def karate_adjacency() -> np.ndarray:
    """D^-1/2 (A + I) D^-1/2 of Zachary's karate club (networkx's bundled copy)."""
    g = nx.karate_club_graph()
    a = nx.to_numpy_array(g, nodelist=sorted(g.nodes), weight=None) + np.eye(g.number_of_nodes())
    d = 1 / np.sqrt(a.sum(axis=1))
    return (a * d[:, None] * d[None, :]).astype(np.float32)


def karate_gcn(seed: int = 0, hidden: int = 8, classes: int = 2, bias_first: bool = False):
    """x(34,34) -> MatMul(x, W1) -> MatMul(A, .) -> Add b1 -> Relu -> MatMul(., W2) -> MatMul(A, .) -> Add b2.
    `bias_first`: the first layer is A (x W1 + b1) instead (torch's Linear then the adjacency)."""
    rng = np.random.default_rng(seed)
    init = {"adj": karate_adjacency(), "w1": rng.normal(0, 0.5, (34, hidden)), "b1": rng.normal(0, 0.1, hidden),
            "w2": rng.normal(0, 0.5, (hidden, classes)), "b2": rng.normal(0, 0.1, classes)}
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["xw1"], name="gc1_w"),
        helper.make_node("MatMul", ["adj", "xw1"], ["axw1"], name="gc1_a"),
        helper.make_node("Add", ["axw1", "b1"], ["h1"], name="gc1_b"),
    ] if not bias_first else [
        helper.make_node("MatMul", ["x", "w1"], ["xw1"], name="gc1_w"),
        helper.make_node("Add", ["xw1", "b1"], ["xw1b"], name="gc1_b"),
        helper.make_node("MatMul", ["adj", "xw1b"], ["h1"], name="gc1_a"),
    ]
    nodes += [
        helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
        helper.make_node("MatMul", ["r1", "w2"], ["hw2"], name="gc2_w"),
        helper.make_node("MatMul", ["adj", "hw2"], ["ahw2"], name="gc2_a"),
        helper.make_node("Add", ["ahw2", "b2"], ["y"], name="gc2_b"),
    ]
    return make_model(nodes, [34, 34], [34, classes], init)


def karate_features(n: int = 1) -> np.ndarray:
    """Identity features (one-hot node ids), a batch of n copies."""
    return np.repeat(np.eye(34, dtype=np.float32)[None], n, axis=0)
