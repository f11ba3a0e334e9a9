"""Core-shaped tiles: channel blocks that fill a core's kernel memory, not only halvings of the channels."""

from dataclasses import replace

import numpy as np

from snncc.backends.coremap import extract, load_profile, map_graph
from snncc.backends.coremap.graph_bound import graph_bound
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
