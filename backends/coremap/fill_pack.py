"""Consumers-first packing for one-output-axon profiles (TrueNorth) that fills cores' neurons and axons together.

On such a profile a source neuron read on k cores takes k - 1 splitter neurons on its core and k input axons, one on
each reading core, so every copy costs one neuron slot upstream and one axon slot downstream. A layer that reads many
sources (a conv after a pool, a dense layer) fills a core's 256 axons with a few neurons; a layer whose neurons have
many copies (the first conv, read from the host) fills its neurons with few axons. Next-fit packing puts each on
cores of its own, so half of every core stays empty. Here layers are placed consumers first (so each neuron's
copies are known exactly: its readers already have their cores), in groups of neurons that share inputs
(`shared_inputs.group_by_shared_inputs`); each group goes whole into the existing core that needs the fewest new
axons for it and has room for its neurons (copies included), else its neurons go one by one into any core where
they need no more new axons than they add to their group, and the rest opens a core. `reserve` keeps that many
axons of a reading group's core free for the neuron-heavy layers placed after it.
"""

from __future__ import annotations

import numpy as np

from snncc.backends.coremap.network import Layer, MatrixProjection, Network
from snncc.backends.coremap.profile import Profile
from snncc.backends.coremap.shared_inputs import group_by_shared_inputs

MAX_FILL_NEURONS = 16384       # dense core x source masks and per-layer grouping stay small below this
MAX_GROUPED = 2048             # group_by_shared_inputs builds a neuron x neuron table


class _Cores:
    """Open cores: the source neurons each reads (global indices), its neurons (copies included), its members."""

    def __init__(self, sources: int, axon_weight: np.ndarray, profile: Profile):
        self.weight = axon_weight
        self.axon_cap, self.neuron_cap = profile.input_axons_per_core, profile.neurons_per_core
        self.reads = np.zeros((0, sources), bool)
        self.axons = np.zeros(0, np.int64)
        self.neurons = np.zeros(0, np.int64)
        self.members: list[list[tuple[str, int]]] = []
        self.readers = np.zeros(sources, np.int64)      # cores reading each source neuron

    def new_axons(self, union: np.ndarray) -> np.ndarray:
        """Axons each core would add to read the global sources `union`."""
        if not self.members:
            return np.zeros(0, np.int64)
        return (~self.reads[:, union]).astype(np.int64) @ self.weight[union]

    def best(self, union: np.ndarray, cost: int, limit: np.ndarray | None = None, reserve: int = 0) -> int | None:
        """The core that takes `cost` neurons reading `union` with the fewest new axons (then the fullest), None
        when none has room; `limit`: the most new axons accepted; `reserve`: axons left free."""
        new = self.new_axons(union)
        ok = (self.neurons + cost <= self.neuron_cap) & (self.axons + new <= self.axon_cap - reserve)
        if limit is not None:
            ok &= new <= limit
        if not ok.any():
            return None
        key = np.where(ok, new * (self.neuron_cap + 1) - self.neurons, np.iinfo(np.int64).max)
        return int(np.argmin(key))

    def open(self) -> int:
        self.reads = np.concatenate([self.reads, np.zeros((1, self.reads.shape[1]), bool)])
        self.axons = np.append(self.axons, 0)
        self.neurons = np.append(self.neurons, 0)
        self.members.append([])
        return len(self.members) - 1

    def add(self, k: int, layer: str, neurons: list[int], union: np.ndarray, cost: int) -> None:
        fresh = union[~self.reads[k, union]]
        self.reads[k, fresh] = True
        self.readers[fresh] += 1
        self.axons[k] += int(self.weight[fresh].sum())
        self.neurons[k] += cost
        self.members[k].extend((layer, i) for i in neurons)


def _layer_reads(layer: Layer, offset: dict[str, int]) -> list[np.ndarray]:
    """Per neuron, the global indices of the source neurons it reads (each once)."""
    per = [[] for _ in range(layer.size)]
    for p in layer.projections:
        m = p.matrix
        for i in range(layer.size):
            per[i].append(m.indices[m.indptr[i]:m.indptr[i + 1]] + offset[p.source])
    return [np.unique(np.concatenate(r)) if r else np.zeros(0, np.int64) for r in per]


def _groups(reads: list[np.ndarray], weight: np.ndarray, cost: np.ndarray, axon_cap: int, neuron_cap: int) \
        -> list[np.ndarray]:
    """The layer's neurons in groups sharing inputs (agglomerative), or consecutive runs that fit one core."""
    n = len(reads)
    if n <= MAX_GROUPED:
        cols = np.unique(np.concatenate(reads)) if n else np.zeros(0, np.int64)
        table = np.zeros((n, cols.size), bool)
        for i, r in enumerate(reads):
            table[i, np.searchsorted(cols, r)] = True
        groups = group_by_shared_inputs(table, weight[cols], cost, axon_cap, neuron_cap)
        return _moved(table, weight[cols], cost, groups, axon_cap, neuron_cap)
    groups, current, seen, axons, neurons = [], [], set(), 0, 0
    for i, r in enumerate(reads):
        new = [s for s in r.tolist() if s not in seen]
        add = int(weight[new].sum()) if new else 0
        if current and (axons + add > axon_cap or neurons + cost[i] > neuron_cap):
            groups.append(np.array(current))
            current, seen, axons, neurons = [], set(), 0, 0
            new, add = r.tolist(), int(weight[r].sum())
        current.append(i)
        seen.update(new)
        axons += add
        neurons += int(cost[i])
    if current:
        groups.append(np.array(current))
    return groups


SWEEPS = 4


def _moved(table: np.ndarray, weight: np.ndarray, cost: np.ndarray, groups: list[np.ndarray], axon_cap: int,
           neuron_cap: int) -> list[np.ndarray]:
    """The groups after moving single neurons to another group wherever that lowers the sum of the groups' input
    unions (what their sources' copies cost) and both groups stay within a core (a few sweeps, lowest index first on
    ties, so deterministic)."""
    label = np.zeros(table.shape[0], np.int64)
    for k, g in enumerate(groups):
        label[g] = k
    count = np.zeros((len(groups), table.shape[1]), np.int32)
    np.add.at(count, label, table.astype(np.int32))
    axons = (count > 0).astype(np.int64) @ weight
    neurons = np.bincount(label, weights=cost, minlength=len(groups)).astype(np.int64)
    for _ in range(SWEEPS):
        moved = False
        for i in range(table.shape[0]):
            a, cols = label[i], np.flatnonzero(table[i])
            freed = int(weight[cols[count[a, cols] == 1]].sum())
            added = (count[:, cols] == 0).astype(np.int64) @ weight[cols]
            gain = np.where((axons + added <= axon_cap) & (neurons + cost[i] <= neuron_cap), freed - added, 0)
            gain[a] = 0
            b = int(np.argmax(gain))
            if gain[b] <= 0:
                continue
            count[a, cols] -= 1
            count[b, cols] += 1
            axons[a] -= freed
            axons[b] += int(added[b])
            neurons[a] -= cost[i]
            neurons[b] += cost[i]
            label[i] = b
            moved = True
        if not moved:
            break
    out = [np.flatnonzero(label == k) for k in range(len(groups))]
    return sorted((g for g in out if g.size), key=lambda g: int(g[0]))


def fills(order: list[Layer]) -> bool:
    """Whether `fill_pack` takes a network whose non-input layers are `order`: explicit synapses only, at most
    MAX_FILL_NEURONS neurons."""
    return sum(l.size for l in order) <= MAX_FILL_NEURONS and \
        all(isinstance(p, MatrixProjection) for l in order for p in l.projections)


def fill_pack(network: Network, profile: Profile, order: list[Layer], multiplicity, reserve: int = 0,
              fill: bool = False) -> list[list[tuple[str, int]]] | None:
    """Cores as lists of (layer, flat neuron index), ids running from the input side; None when the network is
    not all explicit synapses or too large. `order`: the non-input layers in topological order;
    `multiplicity(layer name)`: axons per source neuron; `fill`: a group that fits no core whole moves neuron by
    neuron into any core with room, whatever the new axons."""
    if not fills(order):
        return None
    offset, weight = {}, []
    for l in network.layers:
        offset[l.name] = sum(len(w) for w in weight)
        weight.append(np.full(l.size, multiplicity(l.name), np.int64))
    weight = np.concatenate(weight)
    cores = _Cores(weight.size, weight, profile)
    for layer in reversed(order):
        reads = _layer_reads(layer, offset)
        base = offset[layer.name]
        cost = layer.units + np.maximum(cores.readers[base:base + layer.size] - 1, 0)
        if (cost > profile.neurons_per_core).any():
            return None
        fan = np.array([int(weight[r].sum()) for r in reads], np.int64)
        if (fan > profile.input_axons_per_core).any():
            return None
        # copies of host inputs cost no splitters: such a layer's neurons may spread over spare axons freely, and
        # may use the axons the others leave free
        free = fill or all(network.layer(p.source).kind == "input" for p in layer.projections)
        keep = 0 if free or fan.max(initial=0) > profile.input_axons_per_core - reserve else reserve
        for group in _groups(reads, weight, cost, profile.input_axons_per_core - keep, profile.neurons_per_core):
            _place(cores, layer.name, group.tolist(), reads, cost, weight, free, keep)
    return [list(reversed(m)) for m in reversed(cores.members)]


def _union(reads: list[np.ndarray], members: list[int]) -> np.ndarray:
    return np.unique(np.concatenate([reads[i] for i in members])) if members else np.zeros(0, np.int64)


def _place(cores: _Cores, name: str, group: list[int], reads: list[np.ndarray], cost: np.ndarray,
           weight: np.ndarray, fill: bool, reserve: int) -> None:
    union = _union(reads, group)
    k = cores.best(union, int(cost[group].sum()), reserve=reserve)
    if k is not None:
        cores.add(k, name, group, union, int(cost[group].sum()))
        return
    rest = list(group)
    for i in group:         # a neuron that costs an existing core no more axons than it adds to its group moves
        others = [j for j in rest if j != i]
        own = reads[i]
        marginal = int(weight[np.setdiff1d(own, _union(reads, others), assume_unique=True)].sum()) if others \
            else int(weight[own].sum())
        k = cores.best(own, int(cost[i]), limit=None if fill else np.int64(marginal), reserve=reserve)
        if k is not None:
            cores.add(k, name, [i], own, int(cost[i]))
            rest = others
    if rest:
        union = _union(reads, rest)
        cores.add(cores.open(), name, rest, union, int(cost[rest].sum()))
