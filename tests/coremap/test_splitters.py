"""One output axon per neuron (TrueNorth): the splitter lower bound is valid and counts conflicting consumers, and the
consumers-first packing counts splitters exactly, so no core has to be cut afterwards."""

from dataclasses import replace

import numpy as np
import pytest

from snncc.backends.coremap import check_mapping, dumps, load_profile, map_graph
from snncc.backends.coremap.network import extract
from snncc.backends.coremap.partition import _output_axons, _pack_consumers_first, axon_multiplicity, lower_bound
from snncc.backends.coremap.splitter_bound import splitter_bound
from snncc.ir import Graph
from tests.coremap.nets import NETS, compiled, dense_chain_graph

# 16 input axons per core: two consumers that read 10 shared + 4 own sources each need 18 > 16 axons together
TINY = replace(load_profile("truenorth"), name="tiny-one-axon", neurons_per_core=64, input_axons_per_core=16,
               output_axons_per_core=64, synapse_memory_bits_per_core=64 * 16)


def conflicting_consumers_graph(consumers: int = 4, shared: int = 10, own: int = 4) -> Graph:
    """x(32) -> identity-like dense -> A(32) -> dense -> B(consumers), B_i reads A[0:shared] and `own` more of its
    own; -> readout(2)."""
    n_a = shared + consumers * own
    w1 = np.eye(n_a, 32, dtype=np.float32)
    w2 = np.zeros((consumers, n_a), np.float32)
    w2[:, :shared] = 1.0
    for i in range(consumers):
        w2[i, shared + i * own: shared + (i + 1) * own] = -1.0
    return dense_chain_graph(w1, w2, np.ones((2, consumers), np.float32))


def test_pairwise_conflicting_consumers_cost_splitters_in_the_bound_and_the_mapping():
    graph = conflicting_consumers_graph()
    network = extract(graph)
    layers = network.by_name()
    splitters, layer_cores = splitter_bound(network, TINY.input_axons_per_core, TINY.neurons_per_core,
                                            lambda name: axon_multiplicity(layers[name], TINY))
    assert layer_cores == 4                 # the 4 consumers pairwise conflict: 4 cores
    assert splitters == 10 * 3              # each shared source reaches 4 cores: 3 splitters
    bound, parts = lower_bound(network, TINY)
    assert parts["per_layer"] >= 4
    doc = map_graph(graph, TINY, None).document
    assert check_mapping(graph, doc) == []
    assert doc["summary"]["splitter_neurons"] >= splitters
    assert doc["summary"]["cores"] >= bound
    consumer_cores = {c["id"] for c in doc["cores"] for s in c["slices"] if s["layer"] == "b"}
    assert len(consumer_cores) == 4


def test_no_conflict_no_splitter_bound():
    graph = conflicting_consumers_graph(shared=4, own=2)       # 4 + 2 + 2 = 8 <= 16 axons: any two share a core
    network = extract(graph)
    layers = network.by_name()
    assert splitter_bound(network, TINY.input_axons_per_core, TINY.neurons_per_core,
                          lambda name: axon_multiplicity(layers[name], TINY)) == (0, 1)


def test_consumer_copies_push_the_source_bound():
    """Consumers that need copies themselves take room on the cores that hold them, so their sources reach more
    cores, although nothing conflicts on axons."""
    graph = conflicting_consumers_graph(consumers=2, shared=4, own=2)
    network = extract(graph)
    layers = network.by_name()
    tiny = replace(TINY, neurons_per_core=3)
    splitters, _ = splitter_bound(network, tiny.input_axons_per_core, tiny.neurons_per_core,
                                  lambda name: axon_multiplicity(layers[name], tiny))
    # readout y (2 neurons) reads b0, b1: b needs ceil(2 / 3) = 1 core each -> no copies; A's shared sources are
    # read by b0 and b1 (1 compartment each): ceil(2 / 3) = 1 -> no copies either
    assert splitters == 0
    tiny = replace(TINY, neurons_per_core=1)
    splitters, _ = splitter_bound(network, tiny.input_axons_per_core, tiny.neurons_per_core,
                                  lambda name: axon_multiplicity(layers[name], tiny))
    # one neuron per core: b0 and b1 each feed 2 readout cores (1 copy each, kept on their own core); A's 4 shared
    # sources feed b0 and b1, which take 2 compartments each -> 4 cores -> 3 copies each; A's 4 own sources feed one
    # of them -> 2 cores -> 1 copy each
    assert splitters == 2 * 1 + 4 * 3 + 4 * 1


@pytest.mark.parametrize("name", NETS)
def test_consumers_first_packing_counts_splitters_exactly(name):
    graph, x = compiled(name)
    result = map_graph(graph, "truenorth", x, calibration_samples=16)
    for images in (False, True):        # image layers in blocks, or neuron by neuron ordered by shared inputs
        packer = _pack_consumers_first(result.network, result.profile, {}, 8, images)
        assert _output_axons(packer, result.profile) == []  # no core over its neurons or output axons: no cut
        placed = sum(s.count for c in packer.cores for s in c.slices)
        assert placed == sum(l.size for l in result.network.layers if l.kind != "input")
    assert check_mapping(graph, result.document) == []
    assert result.document["summary"]["cores"] >= result.document["summary"]["lower_bound_cores"]


def test_truenorth_mapping_is_deterministic():
    graph, x = compiled("cnn")
    assert dumps(map_graph(graph, "truenorth", x, calibration_samples=16).document) == \
        dumps(map_graph(graph, "truenorth", x, calibration_samples=16).document)
