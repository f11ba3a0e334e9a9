"""Spread refill: cores of a neuron-bound layer emptied into the spare neurons of a memory- and axon-bound layer's
cores, at any mapping size."""

import importlib
from dataclasses import replace

import numpy as np

from snncc.backends.coremap import load_profile, map_graph
from snncc.backends.coremap.check import check_mapping
from snncc.backends.coremap.mapfile import dumps
from snncc.ir import Conv, Graph, IFNeuron, Input, TensorType
from snncc.ir.node import ConstRef


def _stem_and_wide_conv() -> Graph:
    """x (1 channel) -> 3x3 conv -> IF a (8 channels: few axons and kernel bits per neuron, so neuron-bound) ->
    5x5 conv -> IF b (16 channels reading 8 x 25 taps: 4 kernels fill a core's memory and the halo of a few
    positions its axons, so b's cores keep most of their neurons empty)."""
    rng = np.random.default_rng(0)
    consts = {"w1": rng.normal(size=(8, 1, 3, 3)).astype(np.float32),
              "w2": rng.normal(size=(16, 8, 5, 5)).astype(np.float32),
              "t1": np.ones((8, 1, 1), np.float32), "t2": np.ones((16, 1, 1), np.float32)}
    nodes = [Input(name="x", type=TensorType((1, 24, 24))),
             Conv(name="k1", inputs=("x",), type=TensorType((8, 24, 24)), weight=ConstRef("w1"), pads=(1,) * 4),
             IFNeuron(name="a", inputs=("k1",), type=TensorType((8, 24, 24)), theta=ConstRef("t1"), v0=0.5),
             Conv(name="k2", inputs=("a",), type=TensorType((16, 24, 24)), weight=ConstRef("w2"), pads=(2,) * 4),
             IFNeuron(name="b", inputs=("k2",), type=TensorType((16, 24, 24)), theta=ConstRef("t2"), v0=0.5)]
    return Graph.build(nodes, ["b"], consts, {"coding": "rate", "timesteps": "4"})


PROFILE = replace(load_profile("generic"), name="small", neurons_per_core=1024, input_axons_per_core=1024,
                  output_axons_per_core=4096, synapse_memory_bits_per_core=8000)


def test_neuron_bound_cores_move_into_memory_bound_cores(monkeypatch):
    """Measured: 41 cores without the spread refill (the small-mapping refill included), 37 with it; the mapping
    passes --check and is the same bytes on a rerun."""
    graph = _stem_and_wide_conv()
    doc = map_graph(graph, PROFILE, None).document
    assert doc["summary"]["cores"] <= 37
    assert check_mapping(graph, doc) == []
    assert dumps(map_graph(graph, PROFILE, None).document) == dumps(doc)
    partition = importlib.import_module("snncc.backends.coremap.partition")
    monkeypatch.setattr(partition, "spread_refill", lambda packer: None)
    assert map_graph(graph, PROFILE, None).document["summary"]["cores"] > doc["summary"]["cores"]


def test_a_mapping_over_the_size_limit_skips_the_refill(monkeypatch):
    """Above SPREAD_MAX_CORES the refill is not run (on 20,000+ cores it cost minutes for a few cores)."""
    graph = _stem_and_wide_conv()
    spread = map_graph(graph, PROFILE, None).document["summary"]["cores"]
    partition = importlib.import_module("snncc.backends.coremap.partition")
    monkeypatch.setattr(partition, "SPREAD_MAX_CORES", 10)
    assert map_graph(graph, PROFILE, None).document["summary"]["cores"] > spread
