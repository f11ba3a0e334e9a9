"""Grouping by shared inputs (one-output-axon profiles): valid, maximal, deterministic groups, and a mapping whose
cores follow them, so that each source neuron reaches as few cores as its readers allow."""

from dataclasses import replace

import numpy as np
from hypothesis import given, settings, strategies as st

from snncc.backends.coremap import check_mapping, load_profile, map_graph
from snncc.backends.coremap.shared_inputs import group_by_shared_inputs
from snncc.ir import Graph
from tests.coremap.nets import dense_chain_graph


def _union(reads, weight, group):
    return int(weight[reads[group].any(axis=0)].sum())


def test_neurons_that_read_the_same_block_are_grouped_together():
    # neurons alternate between two blocks of 10 sources; a core has 12 axons: evens together, odds together
    reads = np.zeros((8, 20), bool)
    reads[0::2, :10] = True
    reads[1::2, 10:] = True
    groups = group_by_shared_inputs(reads, np.ones(20), np.ones(8), axon_cap=12, neuron_cap=64)
    assert [g.tolist() for g in groups] == [[0, 2, 4, 6], [1, 3, 5, 7]]


def test_neuron_cap_counts_each_neurons_copies():
    reads = np.ones((6, 4), bool)
    groups = group_by_shared_inputs(reads, np.ones(4), np.array([3, 3, 3, 1, 1, 1]), axon_cap=4, neuron_cap=6)
    assert all(np.array([3, 3, 3, 1, 1, 1])[g].sum() <= 6 for g in groups)
    assert len(groups) == 2         # 12 neurons in cores of 6: {3, 3} and {3, 1, 1, 1}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40), st.integers(0, 30), st.integers(0, 2 ** 31 - 1), st.integers(1, 40), st.integers(1, 12))
def test_groups_are_a_valid_maximal_partition(n, m, seed, axon_cap, neuron_cap):
    rng = np.random.default_rng(seed)
    reads = rng.random((n, m)) < rng.uniform(0.05, 0.6)
    weight = rng.integers(1, 3, m)
    cost = rng.integers(1, 4, n)
    groups = group_by_shared_inputs(reads, weight, cost, axon_cap, neuron_cap)
    assert sorted(np.concatenate(groups).tolist() if groups else []) == list(range(n))
    for g in groups:
        if g.size > 1:      # a single neuron over a cap is the packer's to report
            assert _union(reads, weight, g) <= axon_cap
            assert cost[g].sum() <= neuron_cap
    for i, a in enumerate(groups):          # no two groups could still share a core
        for b in groups[i + 1:]:
            both = np.concatenate([a, b])
            assert _union(reads, weight, both) > axon_cap or cost[both].sum() > neuron_cap
    assert [g.tolist() for g in groups] == [g.tolist() for g in group_by_shared_inputs(reads, weight, cost,
                                                                                        axon_cap, neuron_cap)]


def interleaved_graph(neurons: int = 8, block: int = 10) -> Graph:
    """x -> identity dense -> A (2 x block) -> dense -> B (neurons): even B neurons read A's first block, odd ones
    the second (weights of both signs) -> readout."""
    n_a = 2 * block
    w2 = np.zeros((neurons, n_a), np.float32)
    w2[0::2, :block] = np.where(np.arange(block) % 2, 1.0, -1.0)
    w2[1::2, block:] = np.where(np.arange(block) % 3, 1.0, -1.0)
    return dense_chain_graph(np.eye(n_a, dtype=np.float32), w2, np.ones((2, neurons), np.float32))


def test_mapping_puts_neurons_that_share_inputs_on_one_core():
    profile = replace(load_profile("truenorth"), name="tiny-one-axon", neurons_per_core=12, input_axons_per_core=12,
                      output_axons_per_core=12, synapse_memory_bits_per_core=12 * 12)
    graph = interleaved_graph()
    doc = map_graph(graph, profile, None).document
    assert check_mapping(graph, doc) == []
    cores_of_b = {}
    for core in doc["cores"]:
        for s in core["slices"]:
            if s["layer"] == "b":
                cores_of_b.setdefault(core["id"], []).append(s)
    assert len(cores_of_b) == 2         # evens on one core, odds on another: 10 axons each
    # so each neuron of A reaches one core: no splitters upstream of b (b's own neurons feed one readout core)
    assert doc["summary"]["splitter_neurons"] == 0


def test_grouping_saves_cores_and_copies_on_the_bundled_digits_cnn(monkeypatch):
    """The real pipeline on digits_cnn (2-bit TrueNorth weights): grouping by shared inputs against the greedy
    neuron order it replaced (still used above MAX_GROUPED_NEURONS)."""
    import sys

    import snncc
    from tests.coremap.nets import MODELS

    partition_module = sys.modules["snncc.backends.coremap.partition"]
    x = np.load(MODELS / "data" / "digits_calib.npz", allow_pickle=False)["x"][:64].astype(np.float32)
    graph = snncc.compile(str(MODELS / "digits_cnn.onnx"), "rate", timesteps=16, calibration=x)
    grouped = map_graph(graph, "truenorth", x).document
    monkeypatch.setattr(partition_module, "MAX_GROUPED_NEURONS", 0)
    monkeypatch.setattr(sys.modules["snncc.backends.coremap.fill_pack"], "MAX_GROUPED", 0)
    ordered = map_graph(graph, "truenorth", x).document
    assert check_mapping(graph, grouped) == []
    assert grouped["summary"]["cores"] < 0.85 * ordered["summary"]["cores"]
    assert grouped["summary"]["splitter_neurons"] < ordered["summary"]["splitter_neurons"]
