"""The fill packing for one-output-axon profiles: a layer read from the host (copies cost it splitters, its inputs
few axons) shares the cores of the layer that reads it (many axons, few neurons), so both limits fill together."""

import sys
from dataclasses import replace

import numpy as np

from snncc.backends.coremap import check_mapping, load_profile, map_graph
from snncc.backends.coremap.fill_pack import fill_pack
from snncc.backends.coremap.partition import FILL, _layer_order, axon_multiplicity
from tests.coremap.core_equivalence import assert_cores_equal_whole_graph
from tests.coremap.nets import dense_chain_graph

SMALL = replace(load_profile("truenorth"), name="small-one-axon", neurons_per_core=64, input_axons_per_core=32,
                output_axons_per_core=64, synapse_memory_bits_per_core=64 * 32)


def host_heavy_graph(seed: int = 0):
    """x(16) -> a(96): 2 host inputs each -> b(32): 12 random a's each -> readout(2)."""
    rng = np.random.default_rng(seed)
    w1 = np.zeros((96, 16), np.float32)
    for i in range(96):
        w1[i, rng.choice(16, 2, replace=False)] = 1.0
    w2 = np.zeros((32, 96), np.float32)
    for j in range(32):
        w2[j, rng.choice(96, 12, replace=False)] = rng.choice([-1.0, 1.0], 12)
    return dense_chain_graph(w1, w2, np.ones((2, 32), np.float32))


def test_fill_packing_shares_cores_between_reading_and_host_read_layers(monkeypatch):
    graph = host_heavy_graph()
    x = np.random.default_rng(1).uniform(0, 1, (8, 16)).astype(np.float32)
    filled = map_graph(graph, SMALL, x)
    doc = filled.document
    assert doc["summary"]["granularity"] == FILL          # the fill packing won
    assert check_mapping(graph, doc) == []
    assert doc["summary"]["cores"] >= doc["summary"]["one_axon_bound_cores"]
    assert_cores_equal_whole_graph(graph, x, doc)
    mixed = [c for c in doc["cores"] if {s["layer"] for s in c["slices"]} >= {"a", "b"}]
    assert mixed                                            # a's neurons sit on b's cores
    monkeypatch.setattr(sys.modules["snncc.backends.coremap.partition"], "FILL_RESERVES", ())
    other = map_graph(graph, SMALL, x).document
    assert doc["summary"]["cores"] < other["summary"]["cores"]      # measured: 13 against 17


def test_fill_packing_places_every_neuron_within_the_core_limits():
    graph = host_heavy_graph(seed=3)
    network = map_graph(graph, SMALL, None).network
    layers = network.by_name()
    cores = fill_pack(network, SMALL, _layer_order(network), lambda n: axon_multiplicity(layers[n], SMALL), 4)
    placed = sorted((name, i) for members in cores for name, i in members)
    assert placed == sorted((l.name, i) for l in network.layers if l.kind != "input" for i in range(l.size))
    owner = {key: k for k, members in enumerate(cores) for key in members}
    for k, members in enumerate(cores):       # neurons (copies included) and axons within the core's limits
        reads = {(p.source, int(s)) for name, i in members for p in layers[name].projections
                 for s in p.sources_of(np.array([i]))}
        assert sum(axon_multiplicity(layers[s], SMALL) for s, _ in reads) <= SMALL.input_axons_per_core
        copies = 0
        for name, i in members:
            readers = {owner[(r.name, j)] for r in network.layers for p in r.projections if p.source == name
                       for j in range(r.size) if i in p.sources_of(np.array([j]))}
            copies += max(len(readers) - 1, 0) + 1
        assert copies <= SMALL.neurons_per_core


def test_moving_single_neurons_never_raises_the_copies_and_keeps_groups_within_a_core():
    from snncc.backends.coremap.fill_pack import _moved
    from snncc.backends.coremap.shared_inputs import group_by_shared_inputs

    rng = np.random.default_rng(5)
    for _ in range(20):
        table = rng.random((40, 60)) < 0.15
        weight = rng.integers(1, 3, 60)
        cost = rng.integers(1, 4, 40)
        groups = group_by_shared_inputs(table, weight, cost, 30, 12)
        moved = _moved(table, weight, cost, groups, 30, 12)
        union = lambda gs: sum(int(weight[table[g].any(axis=0)].sum()) for g in gs)  # noqa: E731
        assert union(moved) <= union(groups)
        assert sorted(np.concatenate(moved).tolist()) == list(range(40))
        assert all(weight[table[g].any(axis=0)].sum() <= 30 and cost[g].sum() <= 12 for g in moved)
    # a neuron whose sources all sit in another group moves there: 0 and 1 read a, b; 3 reads c; 2 reads b, c, all
    # already on {0, 1, 3}'s axons: 5 copies -> 3
    table = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]], bool)
    moved = _moved(table, np.ones(3, np.int64), np.ones(4, np.int64), [np.array([0, 1, 3]), np.array([2])], 3, 4)
    assert [g.tolist() for g in moved] == [[0, 1, 2, 3]]
