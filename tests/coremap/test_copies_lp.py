"""The configuration-LP bound on a layer's copies (one output axon per neuron): never above the copies of the best
grouping of its neurons into cores (brute force over every partition of small random layers), and tighter than the
per-neuron counts on a layer where they fall short."""

from dataclasses import replace

import numpy as np
from hypothesis import given, settings, strategies as st

from snncc.backends.coremap import extract, load_profile, map_graph
from snncc.backends.coremap.copies_lp import copies_lp_bound, lp_neurons
from snncc.backends.coremap.graph_bound import one_axon_bound


def partitions(items: list[int]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in partitions(rest):
        for k in range(len(part)):
            yield part[:k] + [[first] + part[k]] + part[k + 1:]
        yield [[first]] + part


def best_grouping(reads, cost_w, cap_w, neuron_cost, axon_cap, neuron_cap) -> float:
    """The fewest copies over every partition of the neurons into groups that fit a core."""
    best = np.inf
    for part in partitions(list(range(reads.shape[0]))):
        total = 0.0
        for g in part:
            union = reads[g].any(axis=0)
            if cap_w[union].sum() > axon_cap or neuron_cost[g].sum() > neuron_cap:
                break
            total += cost_w[union].sum()
        else:
            best = min(best, total)
    return best


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(1, 6), m=st.integers(2, 10), density=st.floats(0.15, 0.6),
       axon_cap=st.integers(2, 12), neuron_cap=st.integers(1, 8), weights=st.booleans())
def test_the_lp_bound_never_exceeds_the_best_grouping(seed, n, m, density, axon_cap, neuron_cap, weights):
    rng = np.random.default_rng(seed)
    reads = rng.random((n, m)) < density
    reads[np.arange(n), rng.integers(0, m, n)] = True
    cost_w = (rng.random(m) < 0.7).astype(float) if weights else np.ones(m)
    cap_w = rng.integers(1, 3, m) if weights else np.ones(m, np.int64)
    neuron_cost = rng.integers(1, 3, n)
    if (reads.astype(int) @ cap_w > axon_cap).any() or (neuron_cost > neuron_cap).any():
        return      # some neuron fits no core: no grouping at all
    value = copies_lp_bound(reads, cost_w, cap_w, neuron_cost, axon_cap, neuron_cap)
    assert value is not None
    best = best_grouping(reads, cost_w, cap_w, neuron_cost, axon_cap, neuron_cap)
    assert value <= best + 1e-9
    # the LP over any subset of the neurons (what large layers get) bounds the whole layer's copies too
    subset = np.flatnonzero(rng.random(n) < 0.5)
    if subset.size:
        part = copies_lp_bound(reads[subset], cost_w, cap_w, neuron_cost[subset], axon_cap, neuron_cap)
        assert part is not None and part <= best + 1e-9


def test_the_lp_bound_is_tighter_than_the_per_neuron_counts():
    """11 neurons each read 4 of 12 sources, 6 axons per core: the per-neuron counts prove 6 cores' worth of
    copies, the LP 7, and the mapper needs 7 cores."""
    from tests.coremap.nets import dense_chain_graph

    w2 = np.array([[1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1],
                   [0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1], [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0],
                   [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0], [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1],
                   [1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0],
                   [0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 1], [0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0],
                   [0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0]], np.float32)
    graph = dense_chain_graph(np.eye(12, dtype=np.float32), w2, np.eye(11, dtype=np.float32)[:1])
    profile = replace(load_profile("truenorth"), name="tiny", neurons_per_core=16, input_axons_per_core=6,
                      output_axons_per_core=16)
    bound, parts = one_axon_bound(extract(graph), profile)
    assert parts["input_axon_copies"] == 6 and parts["input_axon_copies_lp"] == 7 == bound
    assert map_graph(graph, profile, None).document["summary"]["cores"] >= 7


def test_a_layer_too_large_for_the_exact_pricing_has_no_lp_bound():
    reads = np.ones((200, 4), bool)
    assert copies_lp_bound(reads, np.ones(4), np.ones(4, np.int64), np.ones(200, np.int64), 8, 256) is None


def test_a_large_layer_gives_the_lp_its_heaviest_neurons():
    """A layer over 128 neurons: the LP runs on its heaviest 64 among those that fill a core at <= 4."""
    rng = np.random.default_rng(1)
    reads = rng.random((300, 64)) < 0.3
    reads[:10, :] = True                # 10 neurons read everything (fan 64 >= 256 / 4)
    fan = reads.sum(axis=1)
    chosen = lp_neurons(reads, np.ones(64, np.int64), 64)
    assert chosen.size == 64 and (np.diff(chosen) > 0).all()
    assert fan[chosen].min() >= fan[np.setdiff1d(np.arange(300), chosen)].max()
    assert set(range(10)) <= set(chosen.tolist())
    assert lp_neurons(reads[:100], np.ones(64, np.int64), 64).size == 100     # small enough: every neuron
