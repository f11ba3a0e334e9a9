"""Core-shaped tiles: channel blocks that fill a core's kernel memory, not only halvings of the channels."""

import importlib
import json
from dataclasses import replace

import numpy as np

from snncc.backends.coremap import extract, load_profile, map_graph
from snncc.backends.coremap.check import check_mapping
from snncc.backends.coremap.graph_bound import graph_bound
from snncc.backends.coremap.mapfile import dumps
from snncc.backends.coremap.quantize import quantize
from snncc.backends.coremap.tiles import _blocks
from snncc.ir import Conv, Graph, IFNeuron, Input, TensorType
from snncc.ir.node import ConstRef


def test_blocks_include_the_even_split_that_fills_memory():
    assert _blocks(20) == [20, 10, 5, 3, 2, 1]
    assert 7 in _blocks(20, 7) and 4 in _blocks(20, 4)     # ceil(20 / ceil(20 / 7)) = 7, then fit // 2 -> 4
    assert _blocks(512, 28)[:6] == [512, 256, 128, 64, 32, 27]
    assert _blocks(8, 100) == _blocks(8)


def test_a_layer_short_of_kernel_memory_takes_the_fewest_cores():
    """20 output channels, kernels of 16 x 3 x 3 x 8 bits: 7 fit a core. Halving gives blocks of 5 (4 cores); the
    block of 7 gives 3, the graph-only bound."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, 16, 3, 3)).astype(np.float32)
    nodes = [Input(name="x", type=TensorType((16, 6, 6))),
             Conv(name="c", inputs=("x",), type=TensorType((20, 6, 6)), weight=ConstRef("w"), pads=(1,) * 4),
             IFNeuron(name="a", inputs=("c",), type=TensorType((20, 6, 6)), theta=ConstRef("t"), v0=0.5)]
    graph = Graph.build(nodes, ["a"], {"w": w, "t": np.ones((20, 1, 1), np.float32)},
                        {"coding": "rate", "timesteps": "4"})
    profile = replace(load_profile("generic"), name="small", neurons_per_core=1024, input_axons_per_core=4096,
                      output_axons_per_core=4096, synapse_memory_bits_per_core=7 * 16 * 9 * 8 + 100)
    doc = map_graph(graph, profile, None, granularities=()).document
    bound, _ = graph_bound(quantize(extract(graph), profile, None).network, profile)
    assert doc["summary"]["cores"] == bound == 3


def _chain(c0: int, c1: int, c2: int, size: int) -> Graph:
    """x -> 3x3 conv -> IF a -> 3x3 conv -> IF b, all of one image size."""
    rng = np.random.default_rng(0)
    consts = {"w1": rng.normal(size=(c1, c0, 3, 3)).astype(np.float32),
              "w2": rng.normal(size=(c2, c1, 3, 3)).astype(np.float32),
              "t1": np.ones((c1, 1, 1), np.float32), "t2": np.ones((c2, 1, 1), np.float32)}
    nodes = [Input(name="x", type=TensorType((c0, size, size))),
             Conv(name="k1", inputs=("x",), type=TensorType((c1, size, size)), weight=ConstRef("w1"), pads=(1,) * 4),
             IFNeuron(name="a", inputs=("k1",), type=TensorType((c1, size, size)), theta=ConstRef("t1"), v0=0.5),
             Conv(name="k2", inputs=("a",), type=TensorType((c2, size, size)), weight=ConstRef("w2"), pads=(1,) * 4),
             IFNeuron(name="b", inputs=("k2",), type=TensorType((c2, size, size)), theta=ConstRef("t2"), v0=0.5)]
    return Graph.build(nodes, ["b"], consts, {"coding": "rate", "timesteps": "4"})


def _settled_cores(packer, profile) -> int:
    partition = importlib.import_module("snncc.backends.coremap.partition")
    for _ in range(24):
        bad = partition._output_axons(packer, profile)
        if not bad:
            break
        partition._split_in_place(packer, set(bad), profile)
    return len(packer.cores)


def test_a_second_tile_packing_reserves_the_output_axons_the_first_measured():
    """a is read by b in channel blocks of 2 (kernel memory), so each neuron of a reaches several cores; reserving
    one output axon per reading group, the first packing's cores overflow and are cut in halves. Packed again with
    each neuron's measured destinations, next-fit stops each core at its output axons: fewer cores. The mapper
    keeps the better of the two, and the mapping passes --check."""
    partition = importlib.import_module("snncc.backends.coremap.partition")
    graph = _chain(4, 8, 16, 8)
    profile = replace(load_profile("generic"), name="small", neurons_per_core=256, input_axons_per_core=4096,
                      output_axons_per_core=128, synapse_memory_bits_per_core=2 * 8 * 9 * 8 + 8 * 4 * 9 * 8)
    network = quantize(extract(graph), profile, None).network
    first = partition._pack_tiles(network, profile, {}, True)
    once = _settled_cores(first, profile)
    measured = {name: counts.reshape(first.layers[name].shape3).copy() for name, counts in first.dest_count.items()}
    twice = _settled_cores(partition._pack_tiles(network, profile, {}, True, measured=measured), profile)
    assert twice < once
    doc = json.loads(dumps(map_graph(graph, profile, None, granularities=()).document))
    assert doc["summary"]["cores"] <= twice and check_mapping(graph, doc) == []
