"""Partitioning a network into cores that respect a profile's per-core limits.

Every non-input layer is cut into *atoms*: one row band (1 row) x a column tile x a channel block of about
neurons_per_core / granularity neurons (flat layers: neuron ranges). Atoms are packed in topological order into the
current core while it has room for the atom's neurons, its new input axons (the union, over the core, of the source
neurons its synapses read: a conv tile needs its halo) and its synapse memory (a shared conv kernel is stored once
per core and output channel when the profile shares conv weights; otherwise weight_bits per synapse). An atom that
does not fit is halved (columns, then channels, then rows) to fill the core, and the core is closed when even a
small piece does not fit. Consecutive atoms share their halos and kernels, so this next-fit packing keeps both the
core count and the traffic between cores low; the partitioner tries a few granularities and keeps the mapping with
the fewest cores, then the least expected spike traffic between cores (spike counts per neuron from simulating the
calibration data, or 1 spike per neuron and sample without calibration).

Output axons are known once every consumer is placed: a core needs one output axon per (neuron, destination core)
pair (TrueNorth: a neuron drives one axon, so k destinations cost k-1 splitter neurons on its core). The forward
packing reserves one output axon per neuron that has consumers; a core that ends up over its output axons (or, with
splitters, its neurons) is cut in two, which never raises any other count, and the assignment is rebuilt until every
core fits. On a profile whose neurons drive one axon each, the partitioner also packs consumers first (reverse
topological order): when a layer is packed, every consumer core of each of its neurons is known, so its splitters and
output axons are counted exactly instead of estimated, and atoms hold all channels of a few positions, which keeps a
source neuron's consumers on few cores; layers with explicit synapses are placed in groups of neurons that share many
inputs (`shared_inputs.group_by_shared_inputs`), since each core that reads a source neuron costs it one copy. The
fill candidates (`fill_pack`) place those groups into any core with room, so that layers that fill axons and layers
that fill neurons share cores.
"""

from __future__ import annotations

import heapq
import math
import sys
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from snncc.backends.coremap.network import ConvProjection, Layer, MappingError, Network, box_indices, set_indices
from snncc.backends.coremap.fill_pack import fill_pack, fills
from snncc.backends.coremap.index_runs import compact, expand
from snncc.backends.coremap.profile import Profile
from snncc.backends.coremap.shared_inputs import group_by_shared_inputs
from snncc.backends.coremap.splitter_bound import splitter_bound
from snncc.backends.coremap.spread_refill import SPREAD_MAX_CORES, spread_refill
from snncc.backends.coremap.tiles import consumer_fanout, fused_groups, group_tile, layer_tile

GRANULARITIES = (8, 4, 16)


@dataclass(frozen=True)
class Slice:
    """A box of one layer: channels [c0, c1) x rows [r0, r1) x cols [q0, q1) of its (C, H, W) view."""

    layer: str
    c0: int
    c1: int
    r0: int
    r1: int
    q0: int
    q1: int

    @property
    def count(self) -> int:
        return (self.c1 - self.c0) * (self.r1 - self.r0) * (self.q1 - self.q0)

    def halves(self, channels_first: bool = False) -> tuple["Slice", "Slice"] | None:
        """Two halves along columns, else channels, else rows (channels first when memory for kernels is short);
        None for a single neuron."""
        name, c0, c1, r0, r1, q0, q1 = self.layer, self.c0, self.c1, self.r0, self.r1, self.q0, self.q1
        for axis in ("cqr" if channels_first else "qcr"):
            if axis == "q" and q1 - q0 > 1:
                m = (q0 + q1) // 2
                return Slice(name, c0, c1, r0, r1, q0, m), Slice(name, c0, c1, r0, r1, m, q1)
            if axis == "c" and c1 - c0 > 1:
                m = (c0 + c1) // 2
                return Slice(name, c0, m, r0, r1, q0, q1), Slice(name, m, c1, r0, r1, q0, q1)
            if axis == "r" and r1 - r0 > 1:
                m = (r0 + r1) // 2
                return Slice(name, c0, c1, r0, m, q0, q1), Slice(name, c0, c1, m, r1, q0, q1)
        return None

    def _with(self, **kw) -> "Slice":
        d = dict(layer=self.layer, c0=self.c0, c1=self.c1, r0=self.r0, r1=self.r1, q0=self.q0, q1=self.q1)
        d.update(kw)
        return Slice(**d)

    def box(self) -> tuple[int, int, int, int, int, int]:
        return (self.c0, self.c1, self.r0, self.r1, self.q0, self.q1)


@dataclass
class Core:
    """One allocated core and what it holds."""

    index: int
    slices: list[Slice] = field(default_factory=list)
    neurons: int = 0            # compartments, units and splitter neurons included
    splitters: int = 0
    synapses: int = 0
    input_axons: int = 0
    output_axons: int = 0
    memory_bits: int = 0
    state_bits: int = 0         # extra per-neuron state (phase counters, scale schedules)


@dataclass
class Route:
    source: int | str           # core index, or "host" for the graph input
    destination: int
    axons: int
    spikes_per_sample: float


@dataclass
class RouteTable:
    """The routes as arrays, sorted by (source, destination): source -1 is the host. A large network has about a
    million routes and every candidate packing builds its table, so `Route` objects are made for the winner only."""

    source: np.ndarray
    destination: np.ndarray
    axons: np.ndarray
    spikes: np.ndarray

    def routes(self) -> list[Route]:
        return [Route("host" if s < 0 else s, d, a, p) for s, d, a, p in zip(
            self.source.tolist(), self.destination.tolist(), self.axons.tolist(), self.spikes.tolist())]

    def crossing_spikes(self) -> float:
        """Spikes per sample on routes between different cores, summed in route order (a running sum, as
        `sum` over the routes adds them)."""
        between = self.spikes[(self.source >= 0) & (self.source != self.destination)]
        return float(np.add.accumulate(between)[-1]) if between.size else 0.0


@dataclass
class Mapping:
    cores: list[Core]
    table: RouteTable
    lower_bound: int
    bounds: dict
    granularity: int
    _routes: list[Route] | None = field(default=None, repr=False)
    _crossing: float | None = field(default=None, repr=False)

    @property
    def routes(self) -> list[Route]:
        if self._routes is None:
            self._routes = self.table.routes()
        return self._routes

    @property
    def crossing_spikes(self) -> float:
        if self._crossing is None:
            self._crossing = self.table.crossing_spikes()
        return self._crossing

    @property
    def rank(self) -> tuple[int, float]:
        """Smaller is better: fewest cores, then least expected spike traffic between cores."""
        return len(self.cores), round(self.crossing_spikes, 6)


# ---------------------------------------------------------------------------------------------------------------
# Per-layer costs
# ---------------------------------------------------------------------------------------------------------------

def axon_multiplicity(source: Layer, profile: Profile) -> int:
    """Axons (and synapses) per source neuron: x2 for signed spikes on a profile without signed spike events, x K
    for per-step synapse scaling over K steps on a profile without graded spikes, x units when every unit has its
    own output (AMOS: K sub-neurons per gate)."""
    m = 2 if source.signed and not profile.signed_spikes else 1
    if source.steps > 1 and not profile.graded_spikes:
        m *= source.steps
    if source.model is not None and source.model.unit_outputs:
        m *= source.units
    return m


def shares_kernels(p, profile: Profile) -> bool:
    return isinstance(p, ConvProjection) and profile.shared_conv_weights and profile.synapse_memory_model == "per_synapse"


def layer_synapses(layer: Layer, layers: dict[str, Layer], profile: Profile) -> tuple[int, int]:
    """(synapses, minimal synapse memory bits) of a whole layer."""
    syn = mem = 0
    c, h, w = layer.shape3
    for p in layer.projections:
        m = axon_multiplicity(layers[p.source], profile)
        if isinstance(p, ConvProjection):
            s = p.synapses(0, c, 0, h, 0, w) * m
            mem += p.kernel_weights(0, c) * m * profile.weight_bits if shares_kernels(p, profile) \
                else s * profile.weight_bits
        else:
            s = p.matrix.nnz * m
            mem += s * profile.weight_bits
        syn += s
    return syn, mem


def lower_bound(network: Network, profile: Profile) -> tuple[int, dict]:
    """max(total neurons / neurons per core, total synapse memory / memory per core, per-layer bounds, axon bounds).

    Axon bounds: every source neuron read by some synapse enters at least one core on an input axon (and leaves
    its own core on at least one output axon), and the cores holding a conv layer together receive at least
    (output positions x input channels) axons (`ConvProjection.min_axons`); so cores >= sum over sources of the
    largest of these demands / axons per core (a source read by several layers counts its largest demand only, since
    one axon can serve several layers on a core, so the bound stays valid)."""
    layers = network.by_name()
    neurons = mem = 0
    per_layer = 0
    used: dict[str, int] = {}
    demand: dict[str, int] = {}
    for layer in network.layers:
        for p in layer.projections:
            mult = axon_multiplicity(layers[p.source], profile)
            used[p.source] = max(used.get(p.source, 0), p.used_sources() * mult)
            demand[p.source] = max(demand.get(p.source, 0), p.min_axons() * mult)
    axons_in = sum(max(used[s], demand[s]) for s in used)
    axons_out = sum(n for s, n in used.items() if layers[s].kind != "input")
    for layer in network.layers:
        if layer.kind == "input":
            continue
        n = layer.size * layer.units
        _, m = layer_synapses(layer, layers, profile)
        if profile.synapse_memory_model == "crossbar":
            m = 0
        neurons += n
        mem += m
        per_layer = max(per_layer, math.ceil(n / profile.neurons_per_core),
                        math.ceil(m / profile.synapse_memory_bits_per_core))
    if profile.output_axons_per_neuron == 1:
        splitters, layer_cores = splitter_bound(network, profile.input_axons_per_core, profile.neurons_per_core,
                                                lambda name: axon_multiplicity(layers[name], profile))
        neurons += splitters
        per_layer = max(per_layer, layer_cores)
    bounds = {"neurons": math.ceil(neurons / profile.neurons_per_core),
              "synapse_memory": math.ceil(mem / profile.synapse_memory_bits_per_core), "per_layer": per_layer,
              "input_axons": math.ceil(axons_in / profile.input_axons_per_core),
              "output_axons": math.ceil(axons_out / profile.output_axons_per_core)}
    return max(1, *bounds.values()), bounds


# ---------------------------------------------------------------------------------------------------------------
# Packing
# ---------------------------------------------------------------------------------------------------------------

def _distinct(indices: np.ndarray, n: int) -> np.ndarray:
    """Sorted distinct values of indices in [0, n): a mask when it is cheaper than sorting or hashing."""
    if indices.size * 8 < n:
        if indices.size < 2 or bool((indices[1:] > indices[:-1]).all()):
            return indices      # already sorted and distinct (a relay's identity read by a box of rows)
        return np.unique(indices)
    hit = np.zeros(n, bool)
    hit[indices] = True
    return np.flatnonzero(hit)


class _Packer:
    def __init__(self, network: Network, profile: Profile, rates: dict[str, np.ndarray], granularity: int,
                 fanout: dict[str, float], consumers_first: bool = False):
        self.net = network
        self.consumers_first = consumers_first   # destinations known exactly: consumers are already placed
        self.profile = profile
        self.layers = network.by_name()
        self.rates = rates
        self.granularity = granularity
        self.fanout = fanout
        self.measured: dict[str, np.ndarray] | None = None   # per-neuron destination cores of an earlier packing
        self.tile_atoms: list[list[Slice]] | None = None      # a tile packing's atoms, per group
        self.masks = {l.name: np.zeros(l.shape3, bool) for l in network.layers
                      if any(p.source == l.name for m in network.layers for p in m.projections)}
        # int32: core ids and destination counts stay far below 2^31, and these two arrays per neuron are the
        # largest a packing allocates (ResNet-50 at 224 x 224: 11 M neurons, two packers)
        self.core_of = {l.name: np.full(l.size, -1, np.int32) for l in network.layers if l.kind != "input"}
        self._core_of3 = {name: a.reshape(self.layers[name].shape3) for name, a in self.core_of.items()}  # views
        self.dest_count = {name: np.zeros(self.layers[name].size, np.int32) for name in self.masks}
        self._info: dict[str, list[tuple]] = {}
        self.shape3 = {l.name: l.shape3 for l in network.layers}
        # per layer, computed once: compartments per neuron and extra state bits per neuron (all its units)
        self.units = {l.name: l.units for l in network.layers}
        self.state_per_neuron = {l.name: l.units * int(l.model.extra_state_bits(l.node)) for l in network.layers
                                 if l.model is not None}
        self._fan_memo: tuple | None = None     # (slice, its estimated fan-out): _fits then _commit ask for it twice
        self.cores: list[Core] = []
        self.core_reads: list[dict[str, np.ndarray]] = []     # per core: the source neurons on its input axons
        self._open()

    # -- core state ------------------------------------------------------------------------------------------
    def _open(self) -> None:
        self.core = Core(len(self.cores))
        self.cores.append(self.core)
        self.touched: dict[str, list[np.ndarray]] = {}
        self.kernels: dict[tuple[str, int], np.ndarray] = {}
        self.out_estimate = 0.0
        self.split_estimate = 0.0

    def _projections(self, name: str) -> list[tuple]:
        """(index, projection, axons per source neuron, is a conv, shares its kernel, bits of one output channel's
        kernel) per projection of a layer, computed once."""
        info = self._info.get(name)
        if info is None:
            p_ = self.profile
            info = []
            for i, p in enumerate(self.layers[name].projections):
                mult = axon_multiplicity(self.layers[p.source], p_)
                conv = isinstance(p, ConvProjection)
                kernel = int(np.prod(p.weight.shape[1:])) * mult * p_.weight_bits if conv else 0
                info.append((i, p, mult, conv, shares_kernels(p, p_), kernel))
            self._info[name] = info
        return info

    def _cost(self, s: Slice, core: Core):
        """(neurons, new axons, synapses, memory bits, per-projection axon updates, kernel updates) of adding s."""
        p_ = self.profile
        neurons = s.count * self.units[s.layer]
        axons = syn = mem = 0
        updates, kernel_updates = [], []
        box = s.box()
        for i, p, mult, conv, shared, kernel in self._projections(s.layer):
            mask = self.masks[p.source]
            if conv:
                read = p.input_sets(*box)
                if read[0] == "box":
                    c0, c1, r0, r1, q0, q1 = read[1:]
                    region = mask[c0:c1, r0:r1, q0:q1]
                else:
                    region = mask[read[1]:read[2]][:, read[3]][:, :, read[4]]
                new = int(region.size - np.count_nonzero(region))
                updates.append((p.source, (read[0], read[1:])))
                n_syn = p.synapses(*box) * mult
                if shared:
                    held = self.kernels.get((s.layer, i))
                    have = 0 if held is None else int(np.count_nonzero(held[s.c0:s.c1]))
                    mem += (s.c1 - s.c0 - have) * kernel
                    kernel_updates.append((i, p.weight.shape[0]))
                else:
                    mem += n_syn * p_.weight_bits
            else:
                rows = box_indices(self.shape3[s.layer], *box)
                new, n_syn, update = self._matrix_cost(p, rows, mask)
                updates.append(update)
                n_syn *= mult
                mem += n_syn * p_.weight_bits
            axons += new * mult
            syn += n_syn
        return neurons, axons, syn, mem, updates, kernel_updates

    @staticmethod
    def _matrix_cost(p, rows: np.ndarray, mask: np.ndarray):
        """(new axons, synapses, axon update) of the given target rows of an explicit projection."""
        cols = _distinct(p.sources_of(rows), p.matrix.shape[1])
        new = int(cols.size - np.count_nonzero(mask.reshape(-1)[cols]))
        return new, p.synapse_count(rows), (p.source, ("flat", cols))

    def _rows_cost(self, name: str, rows: np.ndarray):
        """Neurons, new axons, synapses and memory of adding the given neurons of a layer with explicit
        projections only (the cost tuple of `_cost`, without updates)."""
        layer, p_ = self.layers[name], self.profile
        axons = syn = 0
        for p in layer.projections:
            mult = axon_multiplicity(self.layers[p.source], p_)
            new, n_syn, _ = self._matrix_cost(p, rows, self.masks[p.source])
            axons += new * mult
            syn += n_syn * mult
        return rows.size * layer.units, axons, syn, syn * p_.weight_bits, [], []

    def _fanout(self, s: Slice) -> tuple[float, float]:
        """(output axons, splitter neurons) of slice s: exact when its consumers are placed, else estimated."""
        if not self.consumers_first:
            # the estimate depends on the slice alone (the measure and the reservations stay fixed while packing)
            memo = self._fan_memo
            if memo is not None and memo[0] is s:
                return memo[1]
            measured = self.measured.get(s.layer) if self.measured else None
            if measured is not None:
                out = float(measured[s.c0:s.c1, s.r0:s.r1, s.q0:s.q1].sum()), 0.0
            else:
                d = self.fanout.get(s.layer, 0.0)
                out = s.count * d, (s.count * max(d - 1.0, 0.0) if self.profile.output_axons_per_neuron == 1 else 0.0)
            self._fan_memo = (s, out)
            return out
        return self._fanout_of(s.layer, box_indices(self.layers[s.layer].shape3, *s.box()))

    def destinations(self, name: str, idx: np.ndarray) -> np.ndarray | None:
        """Consumers first: the cores that read each given neuron of a layer (closed consumer cores + the open
        core); None for a layer nobody reads."""
        dest = self.dest_count.get(name)
        return None if dest is None else dest[idx] + self.masks[name].reshape(-1)[idx]

    def _fanout_of(self, name: str, idx: np.ndarray) -> tuple[float, float]:
        if self.consumers_first:
            d = self.destinations(name, idx)
            if d is None:
                return 0.0, 0.0
            split = float(np.maximum(d - 1, 0).sum()) if self.profile.output_axons_per_neuron == 1 else 0.0
            return float(d.sum()), split
        d = self.fanout.get(name, 0.0)
        return idx.size * d, (idx.size * max(d - 1.0, 0.0) if self.profile.output_axons_per_neuron == 1 else 0.0)

    def _fits(self, s: Slice, cost) -> str | None:
        return self._fits_fanout(cost, *self._fanout(s))

    def _fits_fanout(self, cost, out: float, split: float) -> str | None:
        neurons, axons, syn, mem, _, _ = cost
        p, c = self.profile, self.core
        split += self.split_estimate
        if c.neurons + neurons + split > p.neurons_per_core:
            return f"neurons {c.neurons + neurons} (+{split:.0f} splitters) > {p.neurons_per_core}"
        if self.out_estimate + out > p.output_axons_per_core:
            return f"output axons (estimated) {self.out_estimate + out:.0f} > {p.output_axons_per_core}"
        if c.input_axons + axons > p.input_axons_per_core:
            return f"input axons {c.input_axons + axons} > {p.input_axons_per_core}"
        if p.synapse_memory_model == "crossbar":
            bits = (c.input_axons + axons) * (c.neurons + neurons)
        else:
            bits = c.memory_bits + mem
        if bits > p.synapse_memory_bits_per_core:
            return f"synapse memory {bits} bits > {p.synapse_memory_bits_per_core}"
        return None

    def _commit(self, s: Slice, cost) -> None:
        neurons, axons, syn, mem, updates, kernel_updates = cost
        c = self.core
        c.slices.append(s)
        c.neurons += neurons
        c.input_axons += axons
        c.synapses += syn
        if self.profile.synapse_memory_model == "crossbar":
            c.memory_bits = c.input_axons * c.neurons
        else:
            c.memory_bits += mem
        state = self.state_per_neuron.get(s.layer)
        if state is not None:
            c.state_bits += s.count * state
        out, split = self._fanout(s)
        self.out_estimate += out
        self.split_estimate += split
        for src, (kind, where) in updates:
            mask = self.masks[src]
            if kind == "box":
                mask[where[0]:where[1], where[2]:where[3], where[4]:where[5]] = True
                self.touched.setdefault(src, []).append(where)
            elif kind == "sets":
                c0, c1, rows, cols = where
                if rows.size == 0 or cols.size == 0:
                    continue
                mask[c0:c1, rows[:, None], cols[None, :]] = True
                self.touched.setdefault(src, []).append((c0, c1, int(rows[0]), int(rows[-1]) + 1, int(cols[0]),
                                                         int(cols[-1]) + 1))    # sorted sets: their bounding box
            else:
                mask.reshape(-1)[where] = True
                self.touched.setdefault(src, []).append(where)
        for i, channels in kernel_updates:
            held = self.kernels.get((s.layer, i))
            if held is None:
                held = self.kernels[(s.layer, i)] = np.zeros(channels, bool)
            held[s.c0:s.c1] = True
        self._core_of3[s.layer][s.c0:s.c1, s.r0:s.r1, s.q0:s.q1] = c.index

    def _reads(self) -> dict[str, np.ndarray]:
        """The source neurons on the current core's input axons, each once; clears the axon masks it used. Boxes
        (a conv's halo, or the bounding box of its strided sets) are read together from their bounding box, where
        only this core's axons are marked."""
        reads = {}
        for src, parts in self.touched.items():
            mask = self.masks[src]
            flat = mask.reshape(-1)
            unique = []
            boxes = [p for p in parts if isinstance(p, tuple)]
            if boxes:
                lows = list(zip(*boxes))
                c0, r0, q0 = min(lows[0]), min(lows[2]), min(lows[4])
                c1, r1, q1 = max(lows[1]), max(lows[3]), max(lows[5])
                region = mask[c0:c1, r0:r1, q0:q1]
                cc, rr, qq = np.nonzero(region)
                _, h, w = mask.shape
                unique.append(((cc + c0) * h + rr + r0) * w + qq + q0)
                region[...] = False
            for part in parts:  # each axon once: keep the indices still marked, then unmark them
                if isinstance(part, tuple):
                    continue
                keep = part[flat[part]]
                flat[keep] = False
                unique.append(keep)
            reads[src] = np.concatenate(unique).astype(np.int32)
        return reads

    def _count_reads(self, reads: dict, sign: int = 1) -> None:
        for src, idx in reads.items():
            if src in self.dest_count and self.layers[src].kind != "input":
                self.dest_count[src][expand(idx)] += sign

    def _close(self) -> None:
        """Record the current core's input axons (its destinations count for their source neurons)."""
        reads = self._reads()
        self._count_reads(reads)
        self.core_reads.append({src: compact(idx) for src, idx in reads.items()})     # halo boxes: runs

    def routes(self) -> RouteTable:
        """One route per (source core or host, destination core), from the axons each core reads; sources may be
        placed after their readers, so this comes once every neuron has its core. Sorted by (source, destination),
        the host first; a route's spikes are summed source layer by source layer, as the cores read them."""
        n = len(self.cores)
        keys, axons, spikes = [], [], []
        for k, reads in enumerate(self.core_reads):
            for src, idx in reads.items():
                idx = expand(idx)
                if self.layers[src].kind == "input":
                    keys.append(np.array([k], np.int64))        # host: source -1
                    axons.append(np.array([idx.size], np.int64))
                    spikes.append(np.array([float(idx.size * self.net.timesteps)]))
                    continue
                rate = self.rates.get(src)
                owners = self.core_of[src][idx]
                # a core reads from few cores near it: count over their span, not over every core id
                low = int(owners.min()) if owners.size else 0
                local = owners - low
                counts = np.bincount(local)
                weights = np.bincount(local, weights=None if rate is None else rate[idx])
                hit = np.flatnonzero(counts)
                keys.append((hit + low + 1).astype(np.int64) * (n + 1) + k)
                axons.append(counts[hit].astype(np.int64))
                spikes.append(weights[hit].astype(np.float64))
        if not keys:
            empty = np.zeros(0, np.int64)
            return RouteTable(empty, empty, empty, np.zeros(0))
        key = np.concatenate(keys)
        unique, inverse = np.unique(key, return_inverse=True)
        total_axons = np.bincount(inverse, weights=np.concatenate(axons).astype(np.float64), minlength=unique.size)
        # the spikes of one route are added in reading order, as a running float sum from 0.0 (bincount does so)
        total_spikes = np.bincount(inverse, weights=np.concatenate(spikes), minlength=unique.size)
        source, destination = np.divmod(unique, n + 1)
        return RouteTable(source - 1, destination, total_axons.astype(np.int64), total_spikes)

    def measure(self, slices: list[Slice]) -> tuple[Core, dict[str, np.ndarray]]:
        """(counts, input axons) of a core holding the given slices; changes no other core's state. Sets the
        slices' `core_of` to -1: the caller gives them their core."""
        saved = (self.core, self.touched, self.kernels, self.out_estimate, self.split_estimate)
        self.core, self.touched, self.kernels, self.out_estimate, self.split_estimate = Core(-1), {}, {}, 0.0, 0.0
        for s in slices:
            self._commit(s, self._cost(s, self.core))
        core, reads = self.core, self._reads()
        self.core, self.touched, self.kernels, self.out_estimate, self.split_estimate = saved
        return core, reads

    def _fail_single(self, s: Slice, why: str) -> MappingError:
        layer = self.layers[s.layer]
        cost = self._cost(s, Core(-1))
        return MappingError(
            f"layer %{s.layer} ({layer.op}): one neuron does not fit an empty {self.profile.name} core ({why}): it "
            f"needs {cost[0]} compartment(s), {cost[1]} input axons (fan-in; the core has "
            f"{self.profile.input_axons_per_core}), {cost[3]} synapse memory bits (the core has "
            f"{self.profile.synapse_memory_bits_per_core}). Splitting a neuron's fan-in across cores needs "
            f"partial sums carried by graded spikes, which {self.profile.name} does not have (graded_spikes false): "
            "reduce the layer's fan-in (groups, smaller kernels) or use a profile with more input axons per core or "
            "with graded spikes")

    def trial(self, slices: list[Slice]) -> bool:
        """Whether the slices fit one empty core together; leaves no trace (a scratch packer's use)."""
        saved = (self.core, self.touched, self.kernels, self.out_estimate, self.split_estimate)
        self.core, self.touched, self.kernels, self.out_estimate, self.split_estimate = Core(-1), {}, {}, 0.0, 0.0
        fits = True
        for s in slices:
            cost = self._cost(s, self.core)
            if self._fits(s, cost) is not None:
                fits = False
                break
            self._commit(s, cost)
        self._reads()
        self.core, self.touched, self.kernels, self.out_estimate, self.split_estimate = saved
        return fits

    def place(self, atoms: list[Slice]) -> None:
        stack = list(reversed(atoms))
        units = max(1, self.units[atoms[0].layer])
        min_piece = max(1, self.profile.neurons_per_core // (64 * units))
        while stack:
            s = stack.pop()
            if self.core.neurons + s.count * units > self.profile.neurons_per_core:
                why = "neurons"     # known without the other counts
            else:
                cost = self._cost(s, self.core)
                why = self._fits(s, cost)
                if why is None:
                    self._commit(s, cost)
                    continue
            # short of kernel memory: fewer channels (kept across positions) help, smaller tiles do not
            halves = s.halves(channels_first=why.startswith("synapse memory"))
            if not self.core.slices:
                if halves is None:
                    raise self._fail_single(s, why)
                stack.extend(reversed(halves))
                continue
            # a channel block whose kernels do not fit next to this layer's kernels already here starts a new core:
            # part of it here would store those kernels twice
            kernels_here = why.startswith("synapse memory") and any(k[0] == s.layer for k in self.kernels)
            if halves is not None and s.count > min_piece and not kernels_here:
                stack.extend(reversed(halves))
                continue
            self._close()
            self._open()
            stack.append(s)

    def place_rows(self, atoms: list[Slice]) -> None:
        """`place` one atom at a time, except that consecutive rows of one box column (a tile's rows: same layer,
        channels and columns) that fit the open core together are committed as one box. Every count only grows with
        the rows added, so when rows r..r+j-1 fit together each would have fitted after the one before it: the
        core's counts, axon marks and (after `merge_slices`) slices are those of placing them one by one. Only for
        layers read through convs, whose axons are read back as boxes in the same order either way."""
        n, limit = len(atoms), self.profile.neurons_per_core
        units = max(1, self.units[atoms[0].layer]) if atoms else 1
        i = 0
        while i < n:
            a = atoms[i]
            room = (limit - self.core.neurons) // (a.count * units)
            k = 1
            while k < room and i + k < n:
                b, prev = atoms[i + k], atoms[i + k - 1]
                if not (b.r0 == prev.r1 and b.layer == a.layer and b.c0 == a.c0 and b.c1 == a.c1 and b.q0 == a.q0
                        and b.q1 == a.q1):
                    break
                k += 1
            j, cost = self._rows_that_fit(a, k) if k >= 2 else (0, None)
            if j >= 2:
                self._commit(Slice(a.layer, a.c0, a.c1, a.r0, a.r0 + j, a.q0, a.q1), cost)
                i += j
                continue
            self.place([a])
            i += 1

    def _rows_that_fit(self, a: Slice, k: int) -> tuple[int, tuple | None]:
        """(the most rows j <= k from a's row that fit the open core together, their cost); (0, None) when fewer than
        2 do. Whether j rows fit only turns from yes to no as j grows."""
        def fits(j: int):
            s = Slice(a.layer, a.c0, a.c1, a.r0, a.r0 + j, a.q0, a.q1)
            cost = self._cost(s, self.core)
            return cost if self._fits(s, cost) is None else None

        cost = fits(k)
        if cost is not None:
            return k, cost
        lo, hi, best = 2, k - 1, (0, None)
        while lo <= hi:
            mid = (lo + hi) // 2
            cost = fits(mid)
            if cost is None:
                hi = mid - 1
            else:
                best, lo = (mid, cost), mid + 1
        return best

    def place_groups(self, layer: Layer, groups: list[np.ndarray]) -> None:
        """Place a layer's neurons group by group: a group that does not fit whole into the open core starts a
        new one (so that a group's neurons share their input axons), unless it is larger than a core."""
        for group in groups:
            if self.core.slices and self._fits_fanout(self._rows_cost(layer.name, group),
                                                      *self._fanout_of(layer.name, group)) is not None:
                self._close()
                self._open()
            self.place(_neuron_slices(layer, group.tolist()))

    def finish(self) -> None:
        self._close()
        if not self.core.slices:
            self.cores.pop()
            self.core_reads.pop()


def _atoms(layer: Layer, profile: Profile, granularity: int, layers: dict[str, Layer],
           whole_positions: bool = False) -> list[Slice]:
    """Atoms of about neurons_per_core / granularity neurons; `whole_positions`: all channels of a few positions
    per atom (so that the consumers of a source neuron share few cores) instead of whole rows of a channel block."""
    c, h, w = layer.shape3
    per_core = profile.neurons_per_core // layer.units
    if per_core < 1:
        raise MappingError(f"layer %{layer.name}: one neuron takes {layer.units} compartments but a "
                           f"{profile.name} core has {profile.neurons_per_core}")
    size = max(1, per_core // granularity)
    if h == 1 and w == 1:
        return [Slice(layer.name, a, min(a + size, c), 0, 1, 0, 1) for a in range(0, c, size)]
    wt = min(w, max(1, size // c)) if whole_positions else min(w, size)
    cb = max(1, size // wt)
    tiles = [(q, min(q + wt, w)) for q in range(0, w, wt)]
    blocks = [(a, min(a + cb, c)) for a in range(0, c, cb)]
    depthwise = all(isinstance(p, ConvProjection) and p.groups == p.src_shape[0] and p.groups > 1
                    for p in layer.projections)
    # when the layer's shared kernels do not fit one core, a core should hold few channels at many positions
    # (channel-major order); otherwise all channels of a few rows, which share their halo (band-major order)
    kernel_bits = sum(p.kernel_weights(0, c) * axon_multiplicity(layers[p.source], profile) * profile.weight_bits
                      for p in layer.projections if shares_kernels(p, profile))
    if depthwise or kernel_bits > profile.synapse_memory_bits_per_core:
        if not depthwise:       # channel blocks whose kernels fill one core
            fit = max(1, int(profile.synapse_memory_bits_per_core * c // kernel_bits))
            blocks = [(a, min(a + fit, c)) for a in range(0, c, fit)]
        return [Slice(layer.name, a, b, r, r + 1, q0, q1) for a, b in blocks for r in range(h) for q0, q1 in tiles]
    return [Slice(layer.name, a, b, r, r + 1, q0, q1) for r in range(h) for q0, q1 in tiles for a, b in blocks]


MAX_OVERLAP_ORDER_NEURONS = 4096


def _overlap_order(layer: Layer, input_axons: int, images: bool = False) -> list[int] | None:
    """Neurons of a layer with explicit synapses in a greedy order for packing on few input axons: start a group
    with the neuron of largest fan-in, then add the neuron that reads the fewest sources the group does not read
    yet, until the group's sources reach a core's input axons. Flat layers only unless `images`; None for others."""
    if layer.size > MAX_OVERLAP_ORDER_NEURONS or not layer.projections or \
            any(isinstance(p, ConvProjection) for p in layer.projections) or \
            (not images and layer.shape3[1:] != (1, 1)):
        return None
    blocks = [p.matrix.pattern() for p in layer.projections]
    reads = np.concatenate([b[:, b.any(axis=0)] for b in blocks], axis=1)   # sources nobody reads never count
    fan = reads.sum(axis=1).astype(np.int64)
    new = fan.copy()                # sources each neuron reads that the current group does not
    left = np.ones(len(fan), bool)
    read_by_group = np.zeros(reads.shape[1], bool)
    used = 0
    order: list[int] = []
    while left.any():
        candidates = np.flatnonzero(left)
        pick = int(candidates[np.argmax(fan[candidates])]) if used == 0 else int(candidates[np.argmin(new[candidates])])
        order.append(pick)
        left[pick] = False
        added = reads[pick] & ~read_by_group
        read_by_group |= added
        used += int(added.sum())
        new -= reads[:, added].sum(axis=1)
        if used >= input_axons:
            read_by_group[:] = False
            used = 0
            new = fan.copy()
    return order


MAX_GROUPED_NEURONS = 2048     # merging groups costs up to (neurons)^2 per merge in the worst case


def _groupable(layer: Layer, images: bool) -> bool:
    """Whether consumers-first packing places the layer in groups by shared inputs: explicit synapses only, at most
    MAX_GROUPED_NEURONS neurons, and a flat layer unless `images`."""
    return (0 < layer.size <= MAX_GROUPED_NEURONS and bool(layer.projections)
            and not any(isinstance(p, ConvProjection) for p in layer.projections)
            and (images or layer.shape3[1:] == (1, 1)))


def _shared_input_groups(packer: "_Packer", layer: Layer) -> list[np.ndarray]:
    """The layer's neurons grouped by shared inputs (`group_by_shared_inputs`), each neuron costing its exact
    copies (consumers are placed)."""
    profile = packer.profile
    blocks, weights = [], []
    for p in layer.projections:
        pattern = p.matrix.pattern()
        read = pattern.any(axis=0)
        blocks.append(pattern[:, read])
        weights.append(np.full(int(read.sum()), axon_multiplicity(packer.layers[p.source], profile), np.int64))
    dest = packer.destinations(layer.name, np.arange(layer.size))
    copies = np.zeros(layer.size, np.int64) if dest is None else np.maximum(dest - 1, 0)
    return group_by_shared_inputs(np.concatenate(blocks, axis=1), np.concatenate(weights), layer.units + copies,
                                  profile.input_axons_per_core, profile.neurons_per_core)


def _neuron_slices(layer: Layer, order: list[int]) -> list[Slice]:
    """One-neuron slices of the layer in the given order of flat indices."""
    _, h, w = layer.shape3
    out = []
    for i in order:
        c, rem = divmod(i, h * w)
        r, q = divmod(rem, w)
        out.append(Slice(layer.name, c, c + 1, r, r + 1, q, q + 1))
    return out


def _layer_order(network: Network) -> list[Layer]:
    """Layers in a deterministic topological order of the projection graph: Kahn's algorithm taking, among the
    layers whose sources are all placed, the one listed first (networkx's lexicographical topological sort by list
    position, without its 12 MB of imports)."""
    index = {l.name: i for i, l in enumerate(network.layers)}
    readers: dict[str, list[str]] = {name: [] for name in index}
    waiting = {}
    for l in network.layers:
        sources = {p.source for p in l.projections}
        waiting[l.name] = len(sources)
        for s in sources:
            readers[s].append(l.name)
    ready = [(index[name], name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for r in readers[name]:
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, (index[r], r))
    if len(order) != len(index):
        raise MappingError("internal: the layers' projections form a cycle")
    layers = network.by_name()
    return [layers[n] for n in order if layers[n].kind != "input"]


def _pack(network: Network, profile: Profile, rates, granularity: int, fanout: dict[str, float],
          tick=lambda: None) -> _Packer:
    packer = _Packer(network, profile, rates, granularity, fanout)
    for layer in _layer_order(network):
        packer.place(_atoms(layer, profile, granularity, packer.layers))
        tick()
    packer.finish()
    for core in packer.cores:
        core.slices = merge_slices(core.slices)
    return packer


TILES = 0      # the granularity a tile packing records
FILL = -1      # the granularity a fill packing (`fill_pack`, one output axon per neuron) records
# the share of a reading group's core's axons left to layers read from the host (the digits CNNs' best: 12 and 16 of
# TrueNorth's 256; the tests' small CNN: 32); networks up to FILL_SMALL neurons try them all (a packing takes a
# second), larger ones the first two (digits_resnet: 12 s each)
FILL_RESERVES = (12 / 256, 16 / 256, 8 / 256, 24 / 256, 32 / 256)
FILL_SMALL = 4096


def _tile_atoms(scratch: _Packer, group: list[Layer], profile: Profile) -> list[Slice]:
    """One row of a column band at a time (`tiles`): all channels of every layer of a fused group, or a channel
    block of one layer; flat layers and layers no tile fits take the granularity-8 atoms."""
    _, h, w = group[0].shape3
    if len(group) > 1:
        tile = group_tile(scratch, group)
        if tile is not None:
            cb, q, _ = tile
            blocks = [(0, None)] if cb is None else [(c0, c0 + cb) for c0 in range(0, group[0].shape3[0], cb)]
            return [Slice(l.name, c0, l.shape3[0] if c1 is None else min(c1, l.shape3[0]), r, r + 1, q0,
                          min(q0 + q, w))
                    for q0 in range(0, w, q) for c0, c1 in blocks for r in range(h) for l in group]
        return [a for l in group for a in _tile_atoms(scratch, [l], profile)]
    layer = group[0]
    tile = layer_tile(scratch, layer) if h * w > 1 else None
    if tile is None:
        return _atoms(layer, profile, GRANULARITIES[0], scratch.layers)
    cb, q, _ = tile
    c = layer.shape3[0]
    return [Slice(layer.name, c0, min(c0 + cb, c), r, r + 1, q0, min(q0 + q, w))
            for q0 in range(0, w, q) for c0 in range(0, c, cb) for r in range(h)]


def _pack_tiles(network: Network, profile: Profile, rates, fused: bool, tick=lambda: None,
                measured: dict[str, np.ndarray] | None = None, atoms: list[list[Slice]] | None = None) -> _Packer:
    """Pack core-shaped tiles (`tiles`), fused groups' layers interleaved when `fused` (a consumer may come
    before the rows it reads: routes are built once every neuron is placed). Output axons are reserved at one
    destination per reading group, or at `measured`: each neuron's destination cores in an earlier packing (by
    layer, in its (C, H, W) view). `atoms`: an earlier packing's tiles (`tile_atoms`, per group), not chosen again."""
    order = _layer_order(network)
    layers = network.by_name()
    groups = fused_groups(order, layers, profile) if fused else [[l] for l in order]
    fanout = consumer_fanout(network, groups)
    if not atoms:       # a scratch packer (per-neuron arrays) only to choose the tiles
        scratch = _Packer(network, profile, {}, TILES, fanout)
        atoms = [_tile_atoms(scratch, group, profile) for group in groups]
        del scratch
    packer = _Packer(network, profile, rates, TILES, fanout)
    packer.measured = measured
    packer.tile_atoms = atoms
    for group, group_atoms in zip(groups, packer.tile_atoms):
        if len(group) == 1 and all(isinstance(p, ConvProjection) for p in group[0].projections):
            packer.place_rows(group_atoms)
        else:
            for atom in group_atoms:
                packer.place([atom])
        for _ in group:
            tick()
    packer.finish()
    for core in packer.cores:
        core.slices = merge_slices(core.slices)
    return packer


def _pack_consumers_first(network: Network, profile: Profile, rates, granularity: int,
                          images: bool = False, tick=lambda: None) -> _Packer:
    """Pack in reverse topological order (exact splitters and output axons), then replay the assignment in
    forward order so that core ids run from the input side and the routes are built."""
    packer = _Packer(network, profile, rates, granularity, {}, consumers_first=True)
    for layer in reversed(_layer_order(network)):
        tick()
        if _groupable(layer, images):
            packer.place_groups(layer, _shared_input_groups(packer, layer))
            continue
        order = _overlap_order(layer, profile.input_axons_per_core, images)
        atoms = _atoms(layer, profile, granularity, packer.layers, whole_positions=True) if order is None \
            else _neuron_slices(layer, order)
        packer.place(atoms)
    packer.finish()
    assignment = [list(reversed(core.slices)) for core in reversed(packer.cores)]
    return _replay(network, profile, rates, granularity, assignment)


def _pack_fill(network: Network, profile: Profile, rates, reserve: int) -> _Packer | None:
    """`fill_pack`'s cores replayed (None when it does not apply to the network)."""
    layers = network.by_name()
    cores = fill_pack(network, profile, _layer_order(network), lambda name: axon_multiplicity(layers[name], profile),
                      reserve)
    if cores is None:
        return None
    assignment = [[_neuron_slices(layers[name], [i])[0] for name, i in members] for members in cores]
    return _replay(network, profile, rates, FILL, assignment)


def _count_dtype(counts: np.ndarray) -> np.dtype:
    """The narrowest unsigned type that holds these (non-negative) counts: a packing's measured destinations are
    kept beside the next packing's own arrays, and sums over them are the same in any integer type."""
    top = int(counts.max(initial=0))
    if int(counts.min(initial=0)) < 0:
        return np.dtype(np.int64)
    return np.dtype(np.uint8 if top <= 255 else np.uint16 if top <= 65535 else np.int64)


def _output_axons(packer: _Packer, profile: Profile) -> list[int]:
    """Fill in output axons and splitter neurons; returns the cores over a limit."""
    n = len(packer.cores)
    out = np.zeros(n, np.int64)
    split = np.zeros(n, np.int64)
    for name, counts in packer.dest_count.items():
        if packer.layers[name].kind == "input":
            continue
        owners = packer.core_of[name]
        out += np.bincount(owners, weights=counts, minlength=n).astype(np.int64)
        if profile.output_axons_per_neuron == 1:
            split += np.bincount(owners, weights=np.maximum(counts - 1, 0), minlength=n).astype(np.int64)
    bad = []
    for core, axons, splitters in zip(packer.cores, out.tolist(), split.tolist()):
        core.neurons -= core.splitters
        core.output_axons = axons
        core.splitters = splitters
        core.neurons += core.splitters
        if core.output_axons > profile.output_axons_per_core or core.neurons > profile.neurons_per_core:
            bad.append(core.index)
    return bad


def _split_core(packer: "_Packer", core: Core, profile: Profile) -> list[list[Slice]]:
    """A core over its output axons (or neurons with splitters) cut into pieces that fit. A neuron keeps its
    destination cores when its core is cut, so a slice's output axons (and splitters) are known exactly from the
    measured destinations: slices are halved until each fits, then packed next-fit into new cores. A piece of a core
    needs no more input axons or memory than the whole, so nothing else can break."""

    def need(s: Slice) -> tuple[int, int]:
        layer = packer.layers[s.layer]
        dest = packer.dest_count.get(s.layer)
        if dest is None:
            return 0, s.count * layer.units
        d = dest[box_indices(layer.shape3, *s.box())]
        split = int(np.maximum(d - 1, 0).sum()) if profile.output_axons_per_neuron == 1 else 0
        return int(d.sum()), s.count * layer.units + split

    out: list[list[Slice]] = []
    pieces, stack = [], list(reversed(core.slices))
    while stack:
        s = stack.pop()
        axons, neurons = need(s)
        if axons <= profile.output_axons_per_core and neurons <= profile.neurons_per_core:
            pieces.append((s, axons, neurons))
            continue
        halves = s.halves()
        if halves is None:
            raise MappingError(f"layer %{s.layer}: one neuron needs {axons} output axons and {neurons} neurons "
                               f"with its splitters; a {profile.name} core has {profile.output_axons_per_core} "
                               f"and {profile.neurons_per_core}")
        stack.extend(reversed(halves))
    group: list[Slice] = []
    used = [0, 0]
    for s, axons, neurons in pieces:
        if group and (used[0] + axons > profile.output_axons_per_core
                      or used[1] + neurons > profile.neurons_per_core):
            out.append(group)
            group, used = [], [0, 0]
        group.append(s)
        used[0] += axons
        used[1] += neurons
    out.append(group)
    return out


def _split_in_place(packer: "_Packer", bad: set[int], profile: Profile) -> None:
    """Cut every core in `bad` into pieces that fit (`_split_core`), the pieces in its place and every other core
    kept as it is: only the pieces are measured, and their sources' destination counts updated."""
    pieces = {k: _split_core(packer, packer.cores[k], profile) for k in sorted(bad)}
    cores, reads = [], []
    remap = np.full(len(packer.cores), -1, np.int64)
    fresh: list[Core] = []
    for core, core_reads in zip(packer.cores, packer.core_reads):
        if core.index not in bad:
            remap[core.index] = len(cores)
            core.index = len(cores)
            cores.append(core)
            reads.append(core_reads)
            continue
        packer._count_reads(core_reads, -1)
        for group in pieces[core.index]:
            piece, piece_reads = packer.measure(group)
            packer._count_reads(piece_reads)
            piece.index = len(cores)
            cores.append(piece)
            reads.append({src: compact(idx) for src, idx in piece_reads.items()})
            fresh.append(piece)
    for owners in packer.core_of.values():
        placed = owners >= 0
        owners[placed] = remap[owners[placed]]
    for piece in fresh:
        for s in piece.slices:
            packer.core_of[s.layer].reshape(packer.layers[s.layer].shape3)[s.c0:s.c1, s.r0:s.r1, s.q0:s.q1] = \
                piece.index
    packer.cores, packer.core_reads = cores, reads


MAX_REFILL_CORES = 256
MAX_REFILL_MASK_BYTES = 512 * 2 ** 20    # the cached core states' axon masks, at most
REFILL_BUDGET = 20_000      # slice placements tried in all; keeps the step bounded and deterministic


def _refill(network: Network, profile: Profile, granularity: int, fanout: dict[str, float],
            assignment: list[list[Slice]], dest_count: dict[str, np.ndarray] | None = None) -> list[list[Slice]]:
    """Empty cores into the spare room of others: next-fit packs layer after layer, so a layer that fills cores'
    neurons but little memory (or the reverse) leaves room that another layer could use. A core whose slices
    (halved as needed) all fit into the other cores is removed; each core is tried once, within REFILL_BUDGET
    placements. Small mappings only (MAX_REFILL_CORES, MAX_REFILL_MASK_BYTES); output axons are re-checked
    afterwards like any packing. `dest_count` (one-axon profiles): the destination cores of each neuron in the
    assignment, which price a moved neuron's splitters (a moved consumer can change its sources' counts: the
    re-check catches that)."""
    if len(assignment) > MAX_REFILL_CORES or len(assignment) < 2:
        return assignment
    mask_bytes = sum(l.size for l in network.layers)          # each cached core state holds one axon mask per layer
    if len(assignment) * mask_bytes > MAX_REFILL_MASK_BYTES:
        return assignment

    def state(slices: list[Slice]) -> _Packer:
        packer = _Packer(network, profile, {}, granularity, fanout, consumers_first=dest_count is not None)
        if dest_count is not None:
            packer.dest_count = dest_count
        for s in slices:
            packer._commit(s, packer._cost(s, packer.core))
        return packer

    cores = {k: list(c) for k, c in enumerate(assignment)}     # core id -> slices; ids of removed cores vanish
    cache: dict[int, _Packer] = {}      # core id -> its packed state; dropped when a failed try touched it
    units = {l.name: l.units for l in network.layers}

    def neurons(slices: list[Slice]) -> int:
        return sum(s.count * units[s.layer] for s in slices)

    budget = REFILL_BUDGET
    # each core is tried once, emptiest first: a core that cannot be emptied now cannot be later either, since the
    # others only fill up
    for victim in sorted(cores, key=lambda k: (neurons(cores[k]), -k)):
        spare = sum(profile.neurons_per_core - neurons(c) for k, c in cores.items() if k != victim)
        if len(cores) < 2 or neurons(cores[victim]) > spare or budget <= 0:
            continue
        stack = list(reversed(cores[victim]))
        added: dict[int, list[Slice]] = {}
        for k in cores:
            if k == victim or not stack or neurons(cores[k]) >= profile.neurons_per_core:
                continue
            if k not in cache:
                cache[k] = state(cores[k])
            packer = cache[k]
            while stack and budget > 0:
                s = stack.pop()
                budget -= 1
                cost = packer._cost(s, packer.core)
                if packer._fits(s, cost) is None:
                    packer._commit(s, cost)
                    added.setdefault(k, []).append(s)
                    continue
                halves = s.halves()
                min_piece = max(1, profile.neurons_per_core // (64 * units[s.layer]))
                if halves is not None and s.count > min_piece:
                    stack.extend(reversed(halves))
                    continue
                stack.append(s)
                break
        if stack:
            for k in added:
                cache.pop(k, None)
            continue
        for k, pieces in added.items():
            cores[k] = cores[k] + pieces
        del cores[victim]
        cache.pop(victim, None)
    return [cores[k] for k in sorted(cores)]


_MERGE_AXES = ((3, 4), (5, 6), (1, 2))     # (lo, hi) in (layer, c0, c1, r0, r1, q0, q1): rows, columns, channels


def merge_slices(slices: list[Slice]) -> list[Slice]:
    """The same neurons in fewer slices: boxes of one layer that continue each other along rows, then columns, then
    channels become one box (a box reads the union of its parts' sources, so no count changes). Row-by-row
    packings leave one slice per row; replaying them box by box is several times faster."""
    if len(slices) < 2:
        return list(slices)
    out = [(s.layer, s.c0, s.c1, s.r0, s.r1, s.q0, s.q1) for s in slices]
    for lo, hi in _MERGE_AXES:
        merged: list[tuple] = []
        tail: dict[tuple, int] = {}      # (layer, the other two ranges, end along the axis) -> index in merged
        for t in out:
            rest = t[:lo] + t[hi + 1:]
            i = tail.pop(rest + (t[lo],), None)
            if i is not None:
                m = merged[i]
                merged[i] = m[:hi] + (t[hi],) + m[hi + 1:]
            else:
                i = len(merged)
                merged.append(t)
            tail[rest + (t[hi],)] = i
        out = merged
    return [Slice(*t) for t in out]


def _replay(network: Network, profile: Profile, rates, granularity: int, assignment: list[list[Slice]]) -> _Packer:
    """Rebuild the cores, routes and counts of a given assignment of slices to cores (no decisions)."""
    assignment = [merge_slices(slices) for slices in assignment]
    packer = _Packer(network, profile, rates, granularity, {})
    for index, slices in enumerate(assignment):
        for s in slices:
            packer.core_of[s.layer].reshape(packer.layers[s.layer].shape3)[s.c0:s.c1, s.r0:s.r1, s.q0:s.q1] = index
    for index, slices in enumerate(assignment):
        if index:
            packer._close()
            packer._open()
        for s in slices:
            packer._commit(s, packer._cost(s, packer.core))
    packer.finish()
    for core in packer.cores:
        core.slices = merge_slices(core.slices)
    return packer


TILE_REPACKS = 2           # tile packings again with the output axons the previous one measured

LARGE_NETWORK = 200_000     # neurons: above, only the fused tile packing is tried (each packing takes seconds)


def is_large(network: Network) -> bool:
    return sum(l.size for l in network.layers) > LARGE_NETWORK


def spread_mapping(network: Network, profile: Profile, rates: dict[str, np.ndarray] | None, mapping: Mapping) -> Mapping:
    """The mapping after `spread_refill` (cores cheapest to host emptied into others' spare room, at any size, with
    one shared set of axon masks), when that takes fewer cores; profiles with one output axon per neuron and
    mappings over `SPREAD_MAX_CORES` as they are."""
    if (len(mapping.cores) <= mapping.lower_bound or profile.output_axons_per_neuron == 1
            or len(mapping.cores) > SPREAD_MAX_CORES):
        return mapping
    rates = rates or {}
    packer = _replay(network, profile, rates, mapping.granularity, [c.slices for c in mapping.cores])
    _output_axons(packer, profile)
    spread = spread_refill(packer)
    packer = None
    if spread is None:
        return mapping
    replayed = _replay(network, profile, rates, mapping.granularity, spread)
    for _ in range(24):
        bad = _output_axons(replayed, profile)
        if not bad:
            break
        _split_in_place(replayed, set(bad), profile)
    else:
        return mapping
    candidate = Mapping(replayed.cores, replayed.routes(), mapping.lower_bound, mapping.bounds, mapping.granularity)
    return candidate if candidate.rank < mapping.rank else mapping


def partition(network: Network, profile: Profile, rates: dict[str, np.ndarray] | None = None,
              granularities: tuple[int, ...] | None = None, progress: bool = False, spread: bool = True) -> Mapping:
    """Cut the network into cores (see the module docstring). MappingError when it cannot fit. `progress`: a bar
    over the layers packed (every candidate packing), on stderr. `spread`: finish with `spread_mapping` (a caller
    that compares several partitions can spread the winner once)."""
    rates = rates or {}
    bound, bounds = lower_bound(network, profile)
    available = profile.cores_per_chip * profile.max_chips
    if bound > available:
        raise MappingError(f"the network needs at least {bound} {profile.name} cores (neurons: {bounds['neurons']}, "
                           f"synapse memory: {bounds['synapse_memory']}) but {profile.max_chips} chips x "
                           f"{profile.cores_per_chip} cores = {available} are available")
    large = is_large(network)
    if granularities is None:
        granularities = () if large else GRANULARITIES
    best = None
    consumed = {p.source for l in network.layers for p in l.projections}
    fanout = {l.name: (1.0 if l.name in consumed else 0.0) for l in network.layers}
    # on large networks the fused tiles alone: they beat row bands and unfused tiles on every ResNet measured
    strategies = [(g, False, False) for g in granularities] + [(TILES, False, True)] + \
        ([] if large else [(TILES, False, False)])
    if profile.output_axons_per_neuron == 1:      # consumers first; image layers by shared inputs too, or not
        # where the fill packing applies, it beat grouping image layers alone on every network measured
        filled = fills(_layer_order(network)) and bool(FILL_RESERVES)
        for images in (False,) if filled else (False, True):
            # granularity shapes only the atoms of layers that are not grouped by shared inputs
            grouped = all(l.kind == "input" or _groupable(l, images) for l in network.layers)
            banded = granularities or GRANULARITIES[:1]
            strategies += [(g, True, images) for g in (banded[:1] if grouped else banded)]
        shares = FILL_RESERVES if sum(l.size for l in network.layers) <= FILL_SMALL else FILL_RESERVES[:2]
        reserves = sorted({round(f * profile.input_axons_per_core) for f in shares}) if filled else []
        strategies += [(FILL, True, reserve) for reserve in reserves]

    def settled(packer: _Packer, g: int) -> Mapping | None:
        """The packing with every core within its output axons (cut as needed), or None."""
        for _ in range(24):
            bad = _output_axons(packer, profile)
            if not bad:
                break
            _split_in_place(packer, set(bad), profile)
        else:
            return None
        return Mapping(packer.cores, packer.routes(), bound, bounds, g)

    def better(a: Mapping | None, b: Mapping | None) -> bool:
        return a is not None and (b is None or a.rank < b.rank)

    placed = sum(1 for l in network.layers if l.kind != "input")
    with tqdm(total=placed * len(strategies), desc=f"map: partition ({profile.name})", unit="layer",
              disable=not progress, file=sys.stderr, leave=False) as bar:
        tick = lambda: bar.update(1)  # noqa: E731
        # (granularity, consumers first, option): option is fused tiles / image layers grouped, or FILL's reserve
        for g, consumers_first, images in strategies:
            if g == TILES and not consumers_first and profile.output_axons_per_neuron != 1:
                # sources whose readers sit on more cores than one per group overflow their output axons and are
                # cut into halves afterwards; packed again with the destinations the last packing measured (after
                # its cuts), next-fit fills each core up to its output axons instead. The readers' cores move
                # too, so the measure lags: a second repacking still gains (ResNet-18 w0.5 on Loihi: 2513, 2312)
                packer = _pack_tiles(network, profile, rates, images, tick)
                for repack in range(TILE_REPACKS + 1):
                    packed = len(packer.cores)
                    candidate = settled(packer, g)
                    if better(candidate, best):
                        best = candidate
                    if repack == TILE_REPACKS or (candidate is not None and len(candidate.cores) == packed):
                        break                       # nothing was cut
                    measured = {name: counts.reshape(packer.layers[name].shape3).astype(_count_dtype(counts))
                                for name, counts in packer.dest_count.items()}
                    atoms, packer = packer.tile_atoms, None     # freed before the next packer allocates
                    packer = _pack_tiles(network, profile, rates, images, measured=measured, atoms=atoms)
                continue
            if g == FILL:
                packer = _pack_fill(network, profile, rates, images)
                for _ in range(placed):
                    tick()
                if packer is None:
                    continue
            elif g == TILES:
                packer = _pack_tiles(network, profile, rates, images, tick)
            elif consumers_first:
                packer = _pack_consumers_first(network, profile, rates, g, images, tick)
            else:
                packer = _pack(network, profile, rates, g, fanout, tick)
            candidate = settled(packer, g)
            if better(candidate, best):
                best = candidate
    # refill the best packing only: it is the slow step
    if best is not None and len(best.cores) > bound:
        assignment = [c.slices for c in best.cores]
        dest = None
        if profile.output_axons_per_neuron == 1:
            dest = _replay(network, profile, rates, best.granularity, assignment).dest_count
        refilled = _refill(network, profile, best.granularity, fanout, assignment, dest)
        if len(refilled) < len(best.cores):
            candidate = settled(_replay(network, profile, rates, best.granularity, refilled), best.granularity)
            if better(candidate, best):
                best = candidate
    if spread and best is not None:
        best = spread_mapping(network, profile, rates, best)
    if best is None:
        raise MappingError(f"no mapping onto {profile.name} keeps every core within its output axons "
                           f"({profile.output_axons_per_core}) and neurons ({profile.neurons_per_core}) after "
                           "splitting the layers further; the fan-out is too large for this profile")
    if len(best.cores) > available:
        raise MappingError(f"the network needs {len(best.cores)} {profile.name} cores "
                           f"({math.ceil(len(best.cores) / profile.cores_per_chip)} chips) but only {available} "
                           f"cores ({profile.max_chips} chips) are available")
    return best
