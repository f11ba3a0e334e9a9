"""A lower bound on the splitter neurons a profile whose neurons drive one output axon (TrueNorth) needs.

Two neurons of a layer whose inputs together need more axons than a core has can never share a core: they
*conflict*. The consumers of a source neuron that pairwise conflict sit on distinct cores, so the source neuron
reaches at least that many cores and needs at least that many minus one splitters; any clique of the conflict graph
among its consumers (found greedily here) gives a valid count, and a clique among a whole layer's neurons is a lower
bound on that layer's cores. So does the union of the consumers' inputs divided by a core's input axons: each core
holding some of them receives at most that many axons. Only layers with explicit synapse matrices up to MAX_NEURONS
neurons are examined; the bound stays valid (only looser) for the others.
"""

from __future__ import annotations

import numpy as np

from snncc.backends.coremap.network import Layer, MatrixProjection, Network

MAX_NEURONS = 8192


def _greedy_clique(conflict: np.ndarray) -> int:
    """Size of a clique of the symmetric boolean matrix, grown greedily from the highest-degree vertex."""
    n = conflict.shape[0]
    if n == 0:
        return 0
    candidates = np.ones(n, bool)
    degree = conflict.sum(axis=1)
    size = 0
    while candidates.any():
        pick = int(np.flatnonzero(candidates)[np.argmax(degree[candidates])])
        size += 1
        candidates &= conflict[pick]
        candidates[pick] = False
    return size


def _reads(layer: Layer, multiplicity) -> tuple[np.ndarray, np.ndarray, list] | None:
    """(boolean neuron x source-neuron matrix, axons per source column, column owners) of an explicit layer."""
    if layer.kind == "input" or layer.size > MAX_NEURONS or not layer.projections or \
            not all(isinstance(p, MatrixProjection) for p in layer.projections):
        return None
    blocks, weights, owners = [], [], []
    for p in layer.projections:
        blocks.append(p.matrix.pattern())
        weights.append(np.full(p.matrix.shape[1], multiplicity(p.source), np.int64))
        owners.append((p.source, p.matrix.shape[1]))
    return np.concatenate(blocks, axis=1), np.concatenate(weights), owners


def source_cores(network: Network, input_axons: int, neurons_per_core: int, multiplicity) \
        -> tuple[dict[str, np.ndarray], int]:
    """({source layer: lower bound on the cores that read each of its neurons}, largest per-layer clique) for a
    one-output-axon profile. `multiplicity(source name)` gives the axons one source neuron takes.

    Layers are visited consumers first, so a consumer's own lower bound on copies is known: the cores holding the
    consumers of a source neuron hold at least their copies too, so they number at least
    sum(consumer copies) / neurons per core, next to the clique and axon-union counts."""
    needed: dict[str, np.ndarray] = {}
    layer_cores = 0
    for layer in reversed(network.layers):
        built = _reads(layer, multiplicity)
        if built is None:
            continue
        reads, weight, owners = built
        copies = np.maximum(needed.get(layer.name, np.ones(layer.size, np.int64)), 1) * layer.units
        r = reads.astype(np.float32)
        fan = r @ weight.astype(np.float32)
        shared = (r * weight.astype(np.float32)) @ r.T
        conflict = (fan[:, None] + fan[None, :] - shared) > input_axons
        np.fill_diagonal(conflict, False)
        layer_cores = max(layer_cores, _greedy_clique(conflict))
        start = 0
        for source, width in owners:
            cores = needed.setdefault(source, np.zeros(width, np.int64))
            for col in range(width):
                consumers = np.flatnonzero(reads[:, start + col])
                if consumers.size == 0:
                    continue
                sub = conflict[np.ix_(consumers, consumers)]
                spread = -(-int(weight[reads[consumers].any(axis=0)].sum()) // input_axons)
                room = -(-int(copies[consumers].sum()) // neurons_per_core)
                cores[col] = max(cores[col], spread, room, _greedy_clique(sub) if sub.any() else 1)
            start += width
    return needed, layer_cores


def splitter_bound(network: Network, input_axons: int, neurons_per_core: int, multiplicity) -> tuple[int, int]:
    """(splitter neurons, largest per-layer clique): lower bounds for a one-output-axon profile; a source neuron
    read on k cores needs k - 1 splitters (host inputs need none)."""
    needed, layer_cores = source_cores(network, input_axons, neurons_per_core, multiplicity)
    splitters = int(sum(np.maximum(c - 1, 0).sum() for name, c in needed.items()
                        if network.layer(name).kind != "input"))
    return splitters, layer_cores
