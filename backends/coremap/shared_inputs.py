"""Grouping a layer's neurons by the sources they read, for profiles whose neurons drive one output axon.

On such a profile (TrueNorth) a source neuron needs one copy per core that reads it, so a layer's grouping into
cores is paid for upstream: its sources' copies number the sum, over the cores, of the sources each core reads.
Agglomerative merging keeps that sum low. Start from single neurons, then repeatedly merge the two groups that share
the most input axons (then the smaller union) while the merged group stays within a core's input axons and neurons.
Each merge saves exactly the shared axons, and it stops when no two groups fit one core together. Ties go to the
lowest indices, so the grouping is deterministic.
"""

from __future__ import annotations

import numpy as np


def group_by_shared_inputs(reads: np.ndarray, axon_weight: np.ndarray, neuron_cost: np.ndarray, axon_cap: int,
                           neuron_cap: int) -> list[np.ndarray]:
    """Groups (sorted neuron indices, ordered by their first neuron) of the boolean neuron x source matrix `reads`.
    `axon_weight[k]`: axons source k takes; `neuron_cost[i]`: neurons neuron i takes (its copies included)."""
    n = reads.shape[0]
    if n == 0:
        return []
    reads = np.ascontiguousarray(reads, bool)
    w = np.asarray(axon_weight, np.int64)
    wf = w.astype(np.float32)
    union = reads.copy()
    axons = np.rint(reads.astype(np.float32) @ wf).astype(np.int64)
    cost = np.asarray(neuron_cost, np.int64).copy()
    shared = np.rint((reads * wf) @ reads.T.astype(np.float32)).astype(np.int64)
    alive = np.ones(n, bool)
    members = [[i] for i in range(n)]
    scale = int(w.sum()) + 1      # score = shared axons first, then the smaller union

    def scores(rows: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """Merge scores of the given groups (rows) with every group (columns, or the given live ones); -1 where
        they do not fit."""
        if cols is None:
            cols = np.arange(n)
        pair = shared[np.ix_(rows, cols)]
        merged = axons[rows, None] + axons[None, cols] - pair
        ok = alive[None, cols] & (merged <= axon_cap) & (cost[rows, None] + cost[None, cols] <= neuron_cap)
        ok &= rows[:, None] != cols[None, :]
        return np.where(ok, pair * scale + (scale - 1 - merged), -1)

    best = np.full(n, -1, np.int64)
    partner = np.zeros(n, np.int64)

    def refresh(rows: np.ndarray) -> None:
        live = np.flatnonzero(alive)     # dead groups never fit: scoring only live ones keeps the lowest-index tie
        for start in range(0, rows.size, 256):
            chunk = rows[start:start + 256]
            table = scores(chunk, live)
            pick = np.argmax(table, axis=1)
            partner[chunk] = live[pick]
            best[chunk] = table[np.arange(chunk.size), pick]

    refresh(np.arange(n))
    while True:
        live_best = np.where(alive, best, -1)
        a = int(np.argmax(live_best))
        if live_best[a] < 0:
            break
        keep, gone = sorted((a, int(partner[a])))
        added = np.flatnonzero(union[gone] & ~union[keep])
        union[keep, added] = True
        if added.size:    # every group shares with `keep` the added sources it reads too
            shared[keep] += np.rint(union[:, added].astype(np.float32) @ wf[added]).astype(np.int64)
        axons[keep] += int(w[added].sum())
        shared[keep, keep] = axons[keep]
        shared[:, keep] = shared[keep]
        cost[keep] += cost[gone]
        members[keep] += members[gone]
        alive[gone] = False
        best[gone] = -1
        column = scores(np.array([keep]))[0]
        # a row whose best partner was `keep` and whose score with it did not drop still has it as its best
        stale = alive & (((partner == keep) & (column < best)) | (partner == gone))
        stale[keep] = True
        refresh(np.flatnonzero(stale))
        stale[keep] = False
        better = alive & ~stale & ((column > best) | ((column == best) & (keep < partner)))
        better[keep] = False
        partner[better] = keep
        best[better] = column[better]
    return [np.array(sorted(members[i]), np.int64) for i in np.flatnonzero(alive)]
