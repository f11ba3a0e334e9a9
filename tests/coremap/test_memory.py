"""What keeps `snncc map` small: readers of one current share its composed matrix, conv kernels are the graph's own
constants, quantized kernels are one byte per 8-bit weight, the float weights of a lazily loaded graph go as their
integer copies are made, and the mapping file is streamed in chunks with the same bytes as `dumps`."""

from __future__ import annotations

import gc
import json
import weakref

import numpy as np

from snncc.backends.coremap import map_graph
from snncc.backends.coremap.check import check_mapping
from snncc.backends.coremap.mapfile import dump_chunks, dumps
from snncc.backends.coremap.index_runs import Runs, compact, expand
from snncc.backends.coremap.network import ConvProjection, MatrixProjection, box_indices, extract
from snncc.backends.coremap.profile import load_profile
from snncc.backends.coremap.quantize import _narrowest, quantize, weight_dtype
from snncc.ir import (AvgPool, Conv, Dense, Flatten, GlobalAvgPool, Graph, IFNeuron, Input, TensorType, load,
                      save)
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


def test_quantized_kernels_take_the_narrowest_integer_type():
    graph = _twin_readers()
    for profile, dtype in (("loihi2", np.int8), ("truenorth", np.int8)):
        prof = load_profile(profile)
        q = quantize(extract(graph), prof, None)
        kernels = [p.weight for l in q.network.layers for p in l.projections if isinstance(p, ConvProjection)]
        assert kernels and all(w.dtype == weight_dtype((1 << (prof.weight_bits - 1)) - 1) for w in kernels)
        assert all(w.dtype == dtype and w.nbytes == w.size for w in kernels)     # one byte per weight, not four
    assert [weight_dtype(m) for m in (1, 127, 128, 32767, 32768)] == [np.int8, np.int8, np.int16, np.int16, np.int32]
    # a per-neuron integer bias too; float32 only beyond int32
    for values, dtype in (([3, -100], np.int8), ([3, -200], np.int16), ([1e6], np.int32), ([3e9], np.float32)):
        narrow = _narrowest(np.array(values, np.float32))
        assert narrow.dtype == dtype and np.array_equal(narrow, np.array(values, np.float32))


def test_map_of_a_lazily_loaded_graph_frees_the_float_weights_layer_by_layer(tmp_path):
    path = tmp_path / "twin.snnir"
    save(_twin_readers(), path)
    graph = load(path, lazy=True)
    network = extract(graph)
    floats = [weakref.ref(p.weight) for l in network.layers for p in l.projections if isinstance(p, ConvProjection)]
    assert floats and all(f() is not None for f in floats)
    q = quantize(network, load_profile("loihi2"), None, release=True)
    gc.collect()
    assert network.layers == [] and all(f() is None for f in floats)     # only the integer copies are left
    assert all(p.weight.dtype == np.int8 for l in q.network.layers for p in l.projections
               if isinstance(p, ConvProjection))
    doc = map_graph(graph, "loihi2").document
    eager = map_graph(load(path), "loihi2").document
    assert dumps(doc) == dumps(eager)                # the same mapping file, byte for byte
    assert check_mapping(graph, json.loads(dumps(doc))) == []


def test_a_cores_axons_kept_as_runs_expand_to_the_same_indices():
    rng = np.random.default_rng(5)
    box = box_indices((8, 12, 12), 1, 5, 2, 9, 3, 12).astype(np.int32)      # a halo box: one run per row
    scattered = rng.permutation(5000)[:300].astype(np.int32)
    for idx in (box, np.concatenate([box, scattered]), scattered, np.arange(3, dtype=np.int32),
                np.zeros(0, np.int32), np.arange(2 ** 31 + 5, 2 ** 31 + 100, dtype=np.int64)):
        stored = compact(idx)
        back = expand(stored)
        assert back.dtype == idx.dtype and np.array_equal(back, idx)     # order kept, element for element
    runs = compact(box)
    assert isinstance(runs, Runs) and runs.starts.size == 4 * 7 and runs.size == box.size
    assert runs.starts.nbytes + runs.lengths.nbytes < box.nbytes / 4
    assert compact(scattered) is scattered                                # no runs to gain: the array itself
