"""A lower bound on the copies a layer's neurons force on a one-output-axon profile: the configuration LP.

On such a profile (TrueNorth) every core that holds a neuron reading source s receives s on its own axon, so the
cores holding a layer receive sum over them of |U(G)| copies, U(G) the union of the inputs of the group G of the
layer's neurons a core holds. Every such G is *feasible*: its inputs take at most a core's input axons and its
neurons (each with at least the splitters its own readers force) at most a core's neurons. So the copies are at
least the optimum of the set-covering LP over feasible groups

    min sum_G c(U(G)) x_G   s.t.   sum_{G containing i} x_G >= 1 for every neuron i,   x >= 0,

(c counts the sources whose copies are wanted), and, by LP duality, at least sum_i y_i for any y >= 0 with
y(G) <= c(U(G)) for every feasible G. Column generation finds such y; the last pricing, an exact branch and bound
over groups (`_price`), proves that no feasible group violates it (within 1e-6, which the returned value gives
up). The branch and bound has a node budget: when it runs out the layer has no LP bound (None), never a guess.
"""

from __future__ import annotations

import numpy as np

MAX_LP_NEURONS = 128            # larger layers: pricing by branch and bound does not finish in seconds
NODE_BUDGET = 60_000            # branch-and-bound nodes over all pricing rounds of one layer
PRICE_BUDGET = 20_000           # ... and of one pricing
MAX_ROUNDS = 60                 # column-generation rounds
MAX_GROUP = 6                   # a layer whose neurons fill a core at more than this many (by mean fan-in) ...
HEAVY = 4                       # ... gives the LP only its neurons that fill a core at <= 4, ...
HEAVY_NEURONS = 64              # ... the heaviest 64 of them
TOLERANCE = 1e-6
SLACK = 1.01                    # the exact pricing proves y(G) <= SLACK c(U(G)): 1% of the bound for far fewer nodes


def _price(reads: np.ndarray, y: np.ndarray, cost_w: np.ndarray, cap_w: np.ndarray, neuron_cost: np.ndarray,
           axon_cap: int, neuron_cap: int, budget: int, want: int, lam: float) -> tuple[list[list[int]], int, bool]:
    """Feasible groups G with y(G) - lam c(U(G)) > TOLERANCE (up to `want` of them, best-first as found), the
    nodes used, and whether the search was complete (then no group exceeds the best found, or TOLERANCE).

    Depth-first over neurons (include, then exclude). At a node with union U, the candidates C that still fit
    can add at most y(T) - lam c(new sources of T) for T within C. Two upper bounds on that, and a node where
    neither beats the best group found is cut: (a) spreading each y_j over its new counted sources in proportion
    to their cost (h_s = sum_j y_j / c(N_j); all of y_j where c(N_j) = 0) bounds y(T) by the c_s h_s of the sources
    T adds, so a fractional knapsack of c_s (h_s - lam) over the axons left bounds the gain; (b) below. A
    candidate with no new source is taken outright when every candidate fits the neurons left."""
    n = reads.shape[0]
    rf = reads.astype(np.float64)
    capf = cap_w.astype(np.float64)
    key = y / np.maximum(rf @ capf, 1)
    order = np.argsort(-key, kind="stable")
    found: list[tuple[float, list[int]]] = []
    best = TOLERANCE
    nodes = 0
    share = np.zeros(n)

    def result(complete: bool):
        return [g for _, g in sorted(found, key=lambda t: -t[0])[:want]], nodes, complete

    # a node: (sources in the group, value, axons, neurons, group, candidates, their new axons)
    stack = [(np.zeros(reads.shape[1], bool), 0.0, 0, 0, [], order, rf[order] @ capf)]
    while stack:
        used, value, axons, neurons, group, cand, new_cap = stack.pop()
        nodes += 1
        if nodes > budget:
            return result(False)
        fit = (axons + new_cap <= axon_cap) & (neurons + neuron_cost[cand] <= neuron_cap)
        cand, new_cap = cand[fit], new_cap[fit]
        if cand.size == 0:
            continue
        free = new_cap == 0
        # a candidate with no new source only adds (y >= 0); taken outright only while the neurons cannot bind,
        # else one could crowd out a better later candidate
        if free.any() and neurons + neuron_cost[cand].sum() <= neuron_cap:
            group = group + cand[free].tolist()
            value += float(y[cand[free]].sum())
            neurons += int(neuron_cost[cand[free]].sum())
            if value > TOLERANCE:
                best = max(best, value)
                found.append((value, sorted(group)))
                if len(found) >= want:
                    return result(False)
            cand, new_cap = cand[~free], new_cap[~free]
            if cand.size == 0:
                continue
        fresh = ~used
        new_cost = (rf @ (cost_w * fresh))[cand]
        zero = new_cost == 0
        share[:] = 0
        share[cand[~zero]] = y[cand[~zero]] / new_cost[~zero]
        value_s = np.where(fresh, cost_w * (share @ rf - lam), 0.0)
        gain = float(y[cand[zero]].sum())
        up = value_s > 0
        v, w = value_s[up], capf[up]
        by = np.argsort(-v / w, kind="stable")
        v, w = v[by], w[by]
        room = axon_cap - axons
        full = np.cumsum(w) <= room
        gain += float(v[full].sum())
        if not full.all():
            k = int(np.argmin(full))
            gain += float(v[k]) * (room - float(w[:k].sum())) / float(w[k])
        if value + gain <= best:
            continue
        # a source s that r_s candidates read afresh is read by at most r_s members of T: charging each member
        # c_s / r_s (and w_s / r_s axons) undercounts T's cost and axons, so a knapsack over the candidates bounds
        # the gain too
        share[:] = 0
        share[cand] = 1.0
        readers = np.where(used, 0.0, share @ rf)
        inv = np.where(readers > 0, 1.0 / np.maximum(readers, 1), 0.0)
        profit = y[cand] - (rf @ (lam * cost_w * inv))[cand]
        weight = (rf @ (capf * inv))[cand]
        up = profit > 0
        p_, w_ = profit[up], weight[up]
        by = np.argsort(-p_ / np.maximum(w_, 1e-12), kind="stable")
        p_, w_ = p_[by], w_[by]
        full = np.cumsum(w_) <= room + 1e-9
        bound2 = float(p_[full].sum())
        if not full.all():
            k = int(np.argmin(full))
            bound2 += float(p_[k]) * max(0.0, room - float(w_[:k].sum())) / float(w_[k])
        if value + bound2 <= best:
            continue
        j, rest, rest_cap = int(cand[0]), cand[1:], new_cap[1:]
        stack.append((used, value, axons, neurons, group, rest, rest_cap))
        added = reads[j] & ~used
        v2 = value + float(y[j]) - lam * float(cost_w[added].sum())
        g2 = group + [j]
        if v2 > TOLERANCE:
            best = max(best, v2)
            found.append((v2, sorted(g2)))
            if len(found) >= want:
                return result(False)
        idx = np.flatnonzero(added)
        stack.append((used | added, v2, axons + int(cap_w[idx].sum()), neurons + int(neuron_cost[j]), g2, rest,
                      rest_cap - rf[np.ix_(rest, idx)] @ capf[idx]))
    return result(True)


def _greedy(reads: np.ndarray, y: np.ndarray, cost_w: np.ndarray, cap_w: np.ndarray, neuron_cost: np.ndarray,
            axon_cap: int, neuron_cap: int) -> list[list[int]]:
    """Groups with y(G) > c(U(G)) found cheaply: from each neuron, keep adding the neuron of the largest
    y_j - c(new sources) that fits (even when negative: sharing may pay later), and keep the best prefix."""
    rf = reads.astype(np.float64)
    capf = cap_w.astype(np.float64)
    out = []
    for seed in range(reads.shape[0]):
        group, used = [seed], reads[seed].copy()
        value = float(y[seed] - cost_w[used].sum())
        axons, neurons = int(cap_w[used].sum()), int(neuron_cost[seed])
        best, size = value, 1
        while True:
            fresh = ~used
            gain = y - rf @ (cost_w * fresh)
            ok = (axons + rf @ (capf * fresh) <= axon_cap) & (neurons + neuron_cost <= neuron_cap)
            ok[group] = False
            if not ok.any():
                break
            gain[~ok] = -np.inf
            j = int(np.argmax(gain))
            added = reads[j] & fresh
            group.append(j)
            used |= added
            value += float(gain[j])
            axons += int(cap_w[added].sum())
            neurons += int(neuron_cost[j])
            if value > best:
                best, size = value, len(group)
        if best > TOLERANCE:
            out.append(sorted(group[:size]))
    return out


def lp_neurons(reads: np.ndarray, cap_w: np.ndarray, axon_cap: int) -> np.ndarray:
    """The neurons of a layer whose LP is solved: all of them when the layer has at most MAX_LP_NEURONS and its
    mean fan-in fills a core at most MAX_GROUP times, else its heaviest HEAVY_NEURONS among those whose fan-in is
    at least a HEAVY-th of a core's axons (the exact pricing finishes only when groups are small). The LP over any
    subset of a layer's neurons bounds the layer's copies: the cores' groups restricted to the subset are feasible
    and read no more sources."""
    fan = reads.astype(np.float64) @ np.asarray(cap_w, np.float64)
    n = fan.size
    if n <= MAX_LP_NEURONS and (n <= 16 or axon_cap <= MAX_GROUP * max(float(fan.mean()), 1.0)):
        return np.arange(n)
    heavy = np.flatnonzero(fan * HEAVY >= axon_cap)
    return np.sort(heavy[np.argsort(-fan[heavy], kind="stable")[:HEAVY_NEURONS]])


def copies_lp_bound(reads: np.ndarray, cost_w: np.ndarray, cap_w: np.ndarray, neuron_cost: np.ndarray,
                    axon_cap: int, neuron_cap: int, budget: int = NODE_BUDGET) -> float | None:
    """A proven lower bound on sum over the cores holding the layer of c(U(G)), for the boolean neuron x source
    matrix `reads`, source cost weights `cost_w` (copies counted), source axon weights `cap_w` (axons taken) and
    per-neuron lower bounds `neuron_cost` on the neurons each takes; None when the layer is too large or the exact
    pricing runs out of its node budget."""
    from scipy.optimize import linprog
    from scipy.sparse import csc_matrix

    n = reads.shape[0]
    if n == 0 or n > MAX_LP_NEURONS:
        return None
    cols = np.flatnonzero(reads.any(axis=0))
    reads = np.ascontiguousarray(reads[:, cols])
    cost_w, cap_w = np.asarray(cost_w, np.float64)[cols], np.asarray(cap_w, np.int64)[cols]
    neuron_cost = np.asarray(neuron_cost, np.int64)
    own = reads.astype(np.float64) @ cost_w
    groups: list[list[int]] = [[i] for i in range(n)]
    seen = {(i,) for i in range(n)}
    used = 0
    for _ in range(MAX_ROUNDS):
        rows = np.concatenate([np.asarray(g) for g in groups])
        which = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
        cover = csc_matrix((np.ones(rows.size), (rows, which)), shape=(n, len(groups)))
        costs = [float(cost_w[reads[g].any(axis=0)].sum()) for g in groups]
        lp = linprog(costs, A_ub=-cover, b_ub=-np.ones(n), bounds=(0, None), method="highs")
        if lp.status != 0:
            return None
        # clipped so that every singleton holds exactly: then a group with no counted source has y(G) = 0
        y = np.clip(-lp.ineqlin.marginals, 0.0, own)
        new, nodes, complete = _greedy(reads, y, cost_w, cap_w, neuron_cost, axon_cap, neuron_cap), 0, False
        if not any(tuple(g) not in seen for g in new):
            new, nodes, complete = _price(reads, y, cost_w, cap_w, neuron_cost, axon_cap, neuron_cap,
                                          min(PRICE_BUDGET, budget - used), max(8, n // 4), SLACK)
        used += nodes
        fresh = [g for g in new if tuple(g) not in seen]
        if not fresh:
            if not complete:
                return None
            # no feasible group has y(G) > SLACK c(U(G)) + TOLERANCE <= (SLACK + TOLERANCE) c(U(G)) when
            # c(U(G)) >= 1 (and y(G) = 0 when c(U(G)) = 0): y / (SLACK + TOLERANCE) is dual feasible
            return float(y.sum()) / (SLACK + TOLERANCE)
        for g in fresh:
            seen.add(tuple(g))
            groups.append(g)
    return None
