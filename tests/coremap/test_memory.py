"""What keeps `snncc map` small: readers of one current share its composed matrix, conv kernels are the graph's own
constants, and the mapping file is streamed in chunks with the same bytes as `dumps`."""

from __future__ import annotations

import json

import numpy as np

from snncc.backends.coremap import map_graph
from snncc.backends.coremap.check import check_mapping
from snncc.backends.coremap.mapfile import dump_chunks, dumps
from snncc.backends.coremap.network import ConvProjection, MatrixProjection, extract
from snncc.ir import AvgPool, Conv, Dense, Flatten, Graph, IFNeuron, Input, TensorType
from snncc.ir.node import ConstRef


def _twin_readers() -> Graph:
    """x -> conv -> IF a; a -> 3x3 average pool -> flatten -> dense -> two IF populations p, q reading that one
    current (as a HardSwish's relu and rest halves do): the pool + dense is composed, not read straight from a."""
    rng = np.random.default_rng(0)
    consts = {"w0": rng.normal(0, 1, (4, 1, 3, 3)).astype(np.float32),
              "w1": rng.normal(0, 1, (8, 16)).astype(np.float32)}
    theta = {f"{n}.theta": np.ones(shape, np.float32) for n, shape in (("a", (4, 1, 1)), ("p", (8,)), ("q", (8,)))}
    nodes = [Input(name="x", type=TensorType((1, 6, 6))),
             Conv(name="c0", inputs=("x",), type=TensorType((4, 6, 6)), weight=ConstRef("w0"), pads=(1, 1, 1, 1)),
             IFNeuron(name="a", inputs=("c0",), type=TensorType((4, 6, 6)), theta=ConstRef("a.theta"), v0=0.5),
             AvgPool(name="g", inputs=("a",), type=TensorType((4, 2, 2)), kernel=(3, 3), strides=(3, 3)),
             Flatten(name="f", inputs=("g",), type=TensorType((16,))),
             Dense(name="c1", inputs=("f",), type=TensorType((8,)), weight=ConstRef("w1")),
             IFNeuron(name="p", inputs=("c1",), type=TensorType((8,)), theta=ConstRef("p.theta"), v0=0.5),
             IFNeuron(name="q", inputs=("c1",), type=TensorType((8,)), theta=ConstRef("q.theta"), v0=0.5)]
    return Graph.build(nodes, ["p", "q"], {**consts, **theta}, {"coding": "rate", "timesteps": "8"})


def test_readers_of_one_current_share_its_composed_projection_and_map_cleanly():
    graph = _twin_readers()
    layers = extract(graph).by_name()
    (p,), (q,) = layers["p"].projections, layers["q"].projections
    assert isinstance(p, MatrixProjection) and p.source == "a"
    assert p is q                                   # one composed matrix in memory for both readers
    dense = p.matrix.to_dense()
    c, r, s = np.meshgrid(np.arange(4), np.arange(6), np.arange(6), indexing="ij")
    pooling = np.zeros((16, 144))
    pooling[(c * 4 + r // 3 * 2 + s // 3).reshape(-1), np.arange(144)] = 1 / 9
    assert np.allclose(dense, graph.constants["w1"] @ pooling, rtol=1e-6)
    doc = json.loads(dumps(map_graph(graph, "loihi2", np.random.default_rng(1).uniform(0, 1, (8, 1, 6, 6))).document))
    assert check_mapping(graph, doc) == []


def test_conv_kernels_are_the_graphs_constants_not_copies():
    graph = _twin_readers()
    (c0,) = extract(graph).layer("a").projections
    assert isinstance(c0, ConvProjection)
    assert c0.weight is graph.constants["w0"]


def _reference_dumps(obj, indent: str = "") -> str:
    """The earlier writer: the whole one-line form first, then item by item when it does not fit."""
    flat = json.dumps(obj, allow_nan=False, separators=(", ", ": "))
    if len(flat) + len(indent) <= 116 or not isinstance(obj, (dict, list)) or not obj:
        return flat
    inner = indent + "  "
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {_reference_dumps(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + _reference_dumps(v, inner) for v in obj) + "\n" + indent + "]"


def test_streamed_mapping_file_has_the_bytes_of_the_one_string_writer():
    rng = np.random.default_rng(3)

    def value(depth: int):
        kind = int(rng.integers(0, 7 if depth < 4 else 4))
        if kind == 0:
            return int(rng.integers(-10 ** 6, 10 ** 6))
        if kind == 1:
            return float(f"{rng.normal():.6g}")
        if kind == 2:
            return "é" * int(rng.integers(0, 3)) + "x" * int(rng.integers(0, 130))
        if kind == 3:
            return [None, True, False][int(rng.integers(0, 3))]
        if kind == 4:
            return {f"k{i}": value(depth + 1) for i in range(int(rng.integers(0, 6)))}
        return [value(depth + 1) for _ in range(int(rng.integers(0, [5, 60][int(rng.integers(0, 2))])))]

    for _ in range(60):
        doc = {"cores": [value(1) for _ in range(int(rng.integers(0, 50)))], "summary": value(1), "tail": value(1)}
        text = _reference_dumps(doc) + "\n"
        assert dumps(doc) == text
        assert b"".join(dump_chunks(doc, size=64)).decode() == text
