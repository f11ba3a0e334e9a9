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


def test_twin_populations_of_a_strided_depthwise_conv_fuse_in_channel_blocks():
    """Under AMOS a HardSwish after a stride-2 depthwise conv is two populations reading one current (twins). All 8
    channels of a box read 3 x 5 source positions x 256 axons for 2 output positions (a quarter of the core's
    compartments); one channel at a time, 7 x 9 positions x 32 axons for 16: the twins fuse, in 1-channel blocks."""
    from onnx import helper

    import snncc
    from snncc.backends.coremap.partition import TILES, _layer_order, _Packer
    from snncc.backends.coremap.tiles import consumer_fanout, fused_groups, group_tile
    from tests.helpers import make_model, rand

    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSwish", ["c0"], ["a0"]),
             helper.make_node("Conv", ["a0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2], group=8),
             helper.make_node("HardSwish", ["c1"], ["a1"]),
             helper.make_node("GlobalAveragePool", ["a1"], ["gp"]),
             helper.make_node("Flatten", ["gp"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    init = {"w0": rand(8, 1, 3, 3, seed=0, scale=1.5), "b0": rand(8, seed=3, scale=0.1),
            "w1": rand(8, 1, 3, 3, seed=1, scale=0.8), "b1": rand(8, seed=2, scale=0.1),
            "wf": rand(4, 8, seed=11, scale=0.3), "bf": rand(4, seed=12, scale=0.1)}
    x = np.random.default_rng(0).random((16, 1, 16, 16), dtype=np.float32)
    graph = snncc.compile(make_model(nodes, [1, 16, 16], [4], init), "amos", calibration=x)
    network = extract(graph)
    profile = replace(load_profile("loihi2"), name="small-loihi2", neurons_per_core=2048, input_axons_per_core=4096)
    groups = fused_groups(_layer_order(network), network.by_name(), profile)
    assert [[l.name for l in g] for g in groups][:2] == [["a0.relu", "a0.rest"], ["a1.relu", "a1.rest"]]
    scratch = _Packer(network, profile, {}, TILES, consumer_fanout(network, groups))
    assert group_tile(scratch, groups[1])[0] == 1
    doc = json.loads(dumps(map_graph(graph, profile, x).document))
    assert check_mapping(graph, doc) == []
    boxes = [{(s["channels"][0], s["rows"][0], s["cols"][0]) for s in c["slices"] if s["layer"] == name}
             for c in doc["cores"] for name in ("a1.relu", "a1.rest")]
    assert any(boxes[i] and boxes[i] == boxes[i + 1] for i in range(0, len(boxes), 2))   # one core, both twins
