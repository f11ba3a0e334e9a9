"""The graph-only lower bound: computed from the compiled graph and the profile alone, it never exceeds the cores of
any mapping the mapper finds (property test over random small conv and dense graphs and random profiles), and it
is reported in the mapping file next to the mapper's own bound."""

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from snncc.backends.coremap import MappingError, extract, load_profile, map_graph
from snncc.backends.coremap.graph_bound import conv_nonzero_synapses, conv_used_sources, graph_bound, one_axon_bound
from snncc.backends.coremap.network import ConvProjection
from snncc.backends.coremap.quantize import quantize
from snncc.ir import Conv, Dense, Flatten, Graph, IFNeuron, Input, TensorType
from snncc.ir.node import ConstRef
from tests.coremap.nets import compiled


def conv_graph(rng, channels: int, size: int, out: int, kernel: int, stride: int, pad: int, groups: int,
               sparsity: float, hidden: int) -> Graph:
    """x (channels, size, size) -> conv -> IF -> flatten -> dense(hidden) -> IF -> dense readout(3)."""
    w = rng.normal(size=(out, channels // groups, kernel, kernel)).astype(np.float32)
    w[rng.random(w.shape) < sparsity] = 0
    side = (size + 2 * pad - kernel) // stride + 1
    n = out * side * side
    w2 = rng.normal(size=(hidden, n)).astype(np.float32)
    w2[rng.random(w2.shape) < sparsity] = 0
    consts = {"w": w, "t1": np.ones((out, 1, 1), np.float32), "w2": w2, "t2": np.ones(hidden, np.float32),
              "w3": rng.normal(size=(3, hidden)).astype(np.float32)}
    nodes = [Input(name="x", type=TensorType((channels, size, size))),
             Conv(name="c", inputs=("x",), type=TensorType((out, side, side)), weight=ConstRef("w"),
                  strides=(stride, stride), pads=(pad,) * 4, groups=groups),
             IFNeuron(name="a", inputs=("c",), type=TensorType((out, side, side)), theta=ConstRef("t1"), v0=0.5),
             Flatten(name="f", inputs=("a",), type=TensorType((n,))),
             Dense(name="d", inputs=("f",), type=TensorType((hidden,)), weight=ConstRef("w2")),
             IFNeuron(name="b", inputs=("d",), type=TensorType((hidden,)), theta=ConstRef("t2"), v0=0.5),
             Dense(name="y", inputs=("b",), type=TensorType((3,)), weight=ConstRef("w3"))]
    return Graph.build(nodes, ["y"], consts, {"coding": "rate", "timesteps": "4"})


def mapped_or_rejected(graph, base, neurons, axons, memory, shared):
    """(profile, mapping document) on a random variant of a built-in profile; hypothesis drops graphs it refuses."""
    profile = replace(load_profile(base), name="random", neurons_per_core=neurons, input_axons_per_core=axons,
                      output_axons_per_core=axons, synapse_memory_bits_per_core=memory, shared_conv_weights=shared)
    try:
        return profile, map_graph(graph, profile, None).document
    except MappingError:
        assume(False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1), groups=st.sampled_from([1, 2]), channels=st.sampled_from([2, 4]),
       out=st.sampled_from([2, 4, 6]), size=st.integers(3, 8), kernel=st.integers(1, 3), stride=st.integers(1, 2),
       pad=st.integers(0, 1), sparsity=st.sampled_from([0.0, 0.3, 0.8]), hidden=st.integers(1, 24),
       base=st.sampled_from(["loihi", "loihi2", "generic", "spinnaker2"]), neurons=st.integers(4, 64),
       axons=st.integers(8, 200), memory=st.integers(200, 20_000), shared=st.booleans())
def test_graph_bound_never_exceeds_the_cores_of_a_mapping(seed, groups, channels, out, size, kernel, stride, pad,
                                                         sparsity, hidden, base, neurons, axons, memory, shared):
    assume(size + 2 * pad >= kernel)
    graph = conv_graph(np.random.default_rng(seed), channels, size, out, kernel, stride, pad, groups, sparsity, hidden)
    profile, doc = mapped_or_rejected(graph, base, neurons, axons, memory, shared)
    # the mapper works on the weights rounded to the profile's precision (a few may round to zero and need no
    # synapse): the bound is taken on those, and the unrounded graph's bound is never below it
    bound, parts = graph_bound(quantize(extract(graph), profile, None).network, profile)
    assert bound <= doc["summary"]["cores"], (parts, doc["summary"]["cores"])
    assert doc["summary"]["graph_bound_cores"] == bound
    assert graph_bound(extract(graph), profile)[0] >= bound


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1), groups=st.sampled_from([1, 2]), channels=st.sampled_from([2, 4]),
       out=st.sampled_from([2, 4]), size=st.integers(3, 6), kernel=st.integers(1, 3), stride=st.integers(1, 2),
       pad=st.integers(0, 1), sparsity=st.sampled_from([0.0, 0.3, 0.8]), hidden=st.integers(1, 12),
       base=st.sampled_from(["truenorth", "generic"]), neurons=st.integers(4, 64), axons=st.integers(8, 120))
def test_one_axon_bound_never_exceeds_the_cores_of_a_mapping(seed, groups, channels, out, size, kernel, stride, pad,
                                                            sparsity, hidden, base, neurons, axons):
    """On profiles whose neurons drive one output axon (TrueNorth, or generic so restricted) the bound with the
    splitters every fan-out forces holds against every mapping found, and is at least the plain graph bound."""
    assume(size + 2 * pad >= kernel)
    graph = conv_graph(np.random.default_rng(seed), channels, size, out, kernel, stride, pad, groups, sparsity, hidden)
    profile = replace(load_profile(base), name="random", neurons_per_core=neurons, input_axons_per_core=axons,
                      output_axons_per_core=max(axons, neurons), output_axons_per_neuron=1, graded_spikes=False)
    try:
        doc = map_graph(graph, profile, None).document
    except MappingError:
        assume(False)
    s = doc["summary"]
    # taken, like the mapping, on the weights rounded to the profile's bits (on TrueNorth many become zero)
    assert s["graph_bound_cores"] <= s["one_axon_bound_cores"] <= s["cores"], (s["one_axon_bound_parts"], s["cores"])


def test_one_axon_bound_counts_the_splitters_a_fan_out_forces():
    """Each of 8 neurons is read by the same 9 neurons, more than a core of 8 holds: each reaches 2 cores and needs
    a splitter. 18 neurons need 3 cores; with the 8 splitters, 4, which the plain bound does not see."""
    from tests.coremap.nets import dense_chain_graph

    graph = dense_chain_graph(np.eye(8, dtype=np.float32), np.ones((9, 8), np.float32), np.ones((1, 9), np.float32))
    profile = replace(load_profile("truenorth"), name="tiny", neurons_per_core=8, input_axons_per_core=64,
                      output_axons_per_core=64)
    bound, parts = one_axon_bound(extract(graph), profile)
    plain, _ = graph_bound(extract(graph), profile)
    assert (plain, bound) == (3, 4) and parts["neurons_and_splitters"] == 4
    assert one_axon_bound(extract(graph), load_profile("loihi2")) is None
    summary = map_graph(graph, profile, None).document["summary"]
    assert summary["one_axon_bound_cores"] == 4 <= summary["cores"] and summary["splitter_neurons"] >= 8


def test_conv_counts_are_exact_against_the_explicit_matrix():
    rng = np.random.default_rng(3)
    for trial in range(20):
        graph = conv_graph(rng, 4, int(rng.integers(3, 9)), 4, int(rng.integers(1, 4)), int(rng.integers(1, 3)),
                           int(rng.integers(0, 2)), int(rng.choice([1, 2, 4])), float(rng.choice([0, 0.5, 0.9])), 2)
        conv = next(p for l in extract(graph).layers for p in l.projections if isinstance(p, ConvProjection))
        n = int(np.prod(conv.tgt_shape))
        pos, src, w = conv.rows_csr(np.arange(n))
        assert conv_nonzero_synapses(conv) == int(np.count_nonzero(w)), trial
        assert conv_used_sources(conv) == int(np.unique(src[w != 0]).size), trial


def test_the_mapping_file_reports_both_bounds_and_the_summary_says_so(capsys):
    from snncc.commands.map import format_summary

    graph, _ = compiled("cnn")
    doc = map_graph(graph, "spinnaker2", None).document
    s = doc["summary"]
    assert s["graph_bound_cores"] <= s["lower_bound_cores"] <= s["cores"]
    assert set(s["graph_bound_parts"]) == {"neurons", "synapse_memory", "input_axons", "output_axons"}
    assert s["cores_over_graph_bound"] == round(s["cores"] / s["graph_bound_cores"], 6) or \
        abs(s["cores_over_graph_bound"] - s["cores"] / s["graph_bound_cores"]) < 1e-9
    assert f"graph-only bound {s['graph_bound_cores']}" in format_summary(doc)


def residual_graph(rng, channels: int, size: int, width: int, kernel: int, sparsity: float) -> Graph:
    """x -> conv -> IF a -> conv (same size) -> + a -> IF r -> flatten -> dense readout(3): two layers of one size
    that the tile packing fuses, one of them read twice."""
    from snncc.ir import Add

    pad = kernel // 2
    w1 = rng.normal(size=(width, channels, kernel, kernel)).astype(np.float32)
    w2 = rng.normal(size=(width, width, kernel, kernel)).astype(np.float32)
    for w in (w1, w2):
        w[rng.random(w.shape) < sparsity] = 0
    n = width * size * size
    consts = {"w1": w1, "w2": w2, "t": np.ones((width, 1, 1), np.float32),
              "w3": rng.normal(size=(3, n)).astype(np.float32)}
    shape = TensorType((width, size, size))
    nodes = [Input(name="x", type=TensorType((channels, size, size))),
             Conv(name="c1", inputs=("x",), type=shape, weight=ConstRef("w1"), pads=(pad,) * 4),
             IFNeuron(name="a", inputs=("c1",), type=shape, theta=ConstRef("t"), v0=0.5),
             Conv(name="c2", inputs=("a",), type=shape, weight=ConstRef("w2"), pads=(pad,) * 4),
             Add(name="s", inputs=("c2", "a"), type=shape),
             IFNeuron(name="r", inputs=("s",), type=shape, theta=ConstRef("t"), v0=0.5),
             Flatten(name="f", inputs=("r",), type=TensorType((n,))),
             Dense(name="y", inputs=("f",), type=TensorType((3,)), weight=ConstRef("w3"))]
    return Graph.build(nodes, ["y"], consts, {"coding": "rate", "timesteps": "4"})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1), channels=st.sampled_from([1, 3]), size=st.integers(3, 9),
       width=st.sampled_from([2, 4, 8]), kernel=st.sampled_from([1, 3]), sparsity=st.sampled_from([0.0, 0.5]),
       base=st.sampled_from(["loihi", "loihi2", "generic", "spinnaker2"]), neurons=st.integers(8, 96),
       axons=st.integers(16, 300), memory=st.integers(500, 40_000), shared=st.booleans())
def test_tile_packings_are_valid_and_above_the_graph_bound(seed, channels, size, width, kernel, sparsity, base,
                                                           neurons, axons, memory, shared):
    """The core-shaped tile packings alone (fused and per layer; no row bands): every mapping passes --check and
    needs at least the graph-only bound."""
    import json

    from snncc.backends.coremap.check import check_mapping
    from snncc.backends.coremap.mapfile import dumps

    graph = residual_graph(np.random.default_rng(seed), channels, size, width, kernel, sparsity)
    profile = replace(load_profile(base), name="random", neurons_per_core=neurons, input_axons_per_core=axons,
                      output_axons_per_core=axons, synapse_memory_bits_per_core=memory, shared_conv_weights=shared)
    try:
        doc = json.loads(dumps(map_graph(graph, profile, None, granularities=()).document))
    except MappingError:
        assume(False)
    assert doc["summary"]["granularity"] == 0     # a tile packing
    assert check_mapping(graph, doc) == []
    bound, parts = graph_bound(quantize(extract(graph), profile, None).network, profile)   # rounded weights
    assert bound <= doc["summary"]["cores"], (parts, doc["summary"]["cores"])


def test_graph_bound_counts_the_partial_sums_a_fan_in_forces():
    """8 neurons each read 70 inputs, more than a core's 64 axons: on a graded profile each needs at least 2
    partial-sum compartments, 16 in all. 12 neurons fit 2 cores of 8; with the 16 partial sums they need 4."""
    from snncc.backends.coremap.graph_bound import relay_neurons
    from tests.coremap.nets import dense_chain_graph

    graph = dense_chain_graph(np.ones((8, 70), np.float32), np.ones((3, 8), np.float32), np.ones((1, 3), np.float32))
    profile = replace(load_profile("generic"), name="tiny", neurons_per_core=8, input_axons_per_core=64,
                      output_axons_per_core=64)
    network = extract(graph)
    assert relay_neurons(network, profile) == 16
    assert relay_neurons(network, replace(profile, graded_spikes=False)) == 0
    bound, parts = graph_bound(network, profile)
    assert (bound, parts["neurons"]) == (4, 4)
    doc = map_graph(graph, profile, None).document
    relays = [l for l in doc["layers"] if l["kind"] == "relay"]
    assert relays and sum(int(np.prod(l["shape"])) for l in relays) >= 16
    assert doc["summary"]["graph_bound_cores"] == 4 <= doc["summary"]["cores"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1), channels=st.sampled_from([2, 4]), out=st.sampled_from([4, 6]),
       size=st.integers(4, 8), kernel=st.integers(1, 3), sparsity=st.sampled_from([0.0, 0.3, 0.8]),
       hidden=st.integers(1, 16), base=st.sampled_from(["loihi2", "generic", "spinnaker2"]),
       neurons=st.integers(4, 64), axons=st.integers(8, 40), memory=st.integers(300, 20_000), shared=st.booleans())
def test_graph_bound_with_relays_never_exceeds_the_cores_of_a_mapping(seed, channels, out, size, kernel, sparsity,
                                                                     hidden, base, neurons, axons, memory, shared):
    """Graphs whose dense layer reads more neurons than a core has axons (graded profiles, so the mapper adds
    partial-sum relays): the bound with the partial sums every neuron's fan-in forces stays at most the cores of
    the mapping found, and never counts more partial sums than the mapping's relays hold."""
    from snncc.backends.coremap.graph_bound import relay_neurons

    graph = conv_graph(np.random.default_rng(seed), channels, size, out, kernel, 1, kernel // 2, 1, sparsity, hidden)
    profile, doc = mapped_or_rejected(graph, base, neurons, axons, memory, shared)
    relays = sum(int(np.prod(l["shape"])) for l in doc["layers"] if l["kind"] == "relay")
    assume(relays > 0)
    network = quantize(extract(graph), profile, None).network
    forced = relay_neurons(network, profile)
    bound, parts = graph_bound(network, profile)
    assert forced <= relays
    assert bound <= doc["summary"]["cores"], (parts, forced, relays, doc["summary"]["cores"])
    assert doc["summary"]["graph_bound_cores"] == bound
