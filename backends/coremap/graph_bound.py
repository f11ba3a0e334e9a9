"""A lower bound on the cores of any mapping of a compiled graph onto a profile, from the graph and the profile
alone: no mapper choice (relays, splitters, explicit or shared conv kernels, granularity) enters it.

Every mapping holds at least the graph's neurons (x compartments per neuron), stores every nonzero weight at least
once (a conv's kernel at least once where the profile shares kernels, else each synapse), brings every source neuron
that a nonzero weight reads into at least one core on an input axon (x the axons its spikes take there), and sends
every such non-input source out of its core on at least one output axon. Splitters only add to each count, and so
do relays beyond the partial sums a neuron's own fan-in forces (`relay_neurons`, counted in), so each total divided
by its per-core capacity, rounded up, is a lower bound, and so is their maximum.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from snncc.backends.coremap.network import (ConvProjection, MatrixProjection, Network, SparseRows,
                                            explicit_projection, fits_explicit)
from snncc.backends.coremap.partition import axon_multiplicity
from snncc.backends.coremap.preflight import projection_fan_in
from snncc.backends.coremap.profile import Profile
from snncc.backends.coremap.copies_lp import copies_lp_bound, lp_neurons
from snncc.backends.coremap.splitter_bound import _reads, source_cores


def _inside_per_tap(p: ConvProjection, axis: int) -> np.ndarray:
    """For each kernel tap along `axis`, the output positions at which it lands inside the input."""
    k = p.weight.shape[2 + axis]
    pos = (np.arange(p.tgt_shape[1 + axis])[:, None] * p.strides[axis] - p.pads[axis]
           + np.arange(k)[None, :] * p.dilations[axis])
    return ((pos >= 0) & (pos < p.src_shape[1 + axis])).sum(axis=0)


def conv_nonzero_synapses(p: ConvProjection) -> int:
    """Synapses of the explicit form with a nonzero weight: each nonzero tap times the positions it lands inside."""
    rows, cols = _inside_per_tap(p, 0), _inside_per_tap(p, 1)
    nonzero = (p.weight != 0).sum(axis=(0, 1))                # (kh, kw): output-channel x input-channel pairs
    return int(np.sum(nonzero * rows[:, None] * cols[None, :]) * p.tgt_shape[0] // p.weight.shape[0])


def _positions(p: ConvProjection, axis: int, tap: int) -> np.ndarray:
    """Input positions along `axis` that kernel tap `tap` reads over all output positions."""
    pos = np.arange(p.tgt_shape[1 + axis]) * p.strides[axis] - p.pads[axis] + tap * p.dilations[axis]
    return pos[(pos >= 0) & (pos < p.src_shape[1 + axis])]


def conv_used_sources(p: ConvProjection) -> int:
    """Source neurons that at least one nonzero weight reads (exactly; input channels with the same pattern of
    nonzero taps read the same number of positions, so each pattern is counted once)."""
    og, cg = p.weight.shape[0] // p.groups, p.weight.shape[1]
    taps = (p.weight.reshape(p.groups, og, cg, *p.weight.shape[2:]) != 0).any(axis=1).reshape(-1, *p.weight.shape[2:])
    patterns, counts = np.unique(taps.reshape(len(taps), -1), axis=0, return_counts=True)
    total = 0
    for pattern, channels in zip(patterns, counts):
        hit = np.zeros(p.src_shape[1:], bool)
        for i, j in zip(*np.nonzero(pattern.reshape(p.weight.shape[2:]))):
            hit[np.ix_(_positions(p, 0, i), _positions(p, 1, j))] = True
        total += int(hit.sum()) * int(channels)
    return total


def forced_partial_sums(layer, layers: dict, profile: Profile) -> np.ndarray:
    """Per neuron of the layer, the partial-sum relay compartments every mapping needs for it (graded-spike
    profiles; docs/mapping.md, "Partial sums in the graph-only bound"): its nonzero input axons F (a source neuron
    read by two projections counts once) split into groups that each fit one core's input axons A and, where
    synapses take memory, its memory M, so at least max(ceil(F / A), ceil(F x weight bits / M)) of them when that is
    2 or more, else none (the neuron fits a core whole)."""
    per_source: dict[str, np.ndarray] = {}
    for p in layer.projections:
        fan = projection_fan_in(p) * axon_multiplicity(layers[p.source], profile)
        held = per_source.get(p.source)
        per_source[p.source] = fan if held is None else np.maximum(held, fan)
    fan = sum(per_source.values(), np.zeros(layer.size, np.int64))
    groups = -(-fan // profile.input_axons_per_core)
    if profile.synapse_memory_model == "per_synapse":
        groups = np.maximum(groups, -(-fan * profile.weight_bits // profile.synapse_memory_bits_per_core))
    return np.where(groups >= 2, groups, 0)


def relay_neurons(network: Network, profile: Profile) -> int:
    """Partial-sum compartments that the fan-in of the network's neurons forces on every mapping (0 on a profile
    without graded spikes, where such a neuron maps nowhere)."""
    if not profile.graded_spikes:
        return 0
    layers = network.by_name()
    return sum(int(forced_partial_sums(l, layers, profile).sum()) for l in network.layers
               if l.kind != "input" and l.projections)


def graph_bound(network: Network, profile: Profile) -> tuple[int, dict]:
    """(cores, {part: cores}) for the network `extract` reads from a compiled graph (before fan-in relays and the
    explicit-synapse choice). The partial sums that neurons' fan-in forces (`relay_neurons`) count as neurons, as
    one input and one output axon each and one synapse each into their neuron."""
    layers = network.by_name()
    relays = relay_neurons(network, profile)
    neurons, memory = relays, (relays * profile.weight_bits if profile.synapse_memory_model == "per_synapse" else 0)
    used: dict[str, int] = {}
    for layer in network.layers:
        if layer.kind == "input":
            continue
        neurons += layer.size * layer.units
        for p in layer.projections:
            m = axon_multiplicity(layers[p.source], profile)
            reads = conv_used_sources(p) if isinstance(p, ConvProjection) else \
                int(np.unique(p.matrix.indices[p.matrix.data != 0]).size)
            used[p.source] = max(used.get(p.source, 0), reads * m)
            if profile.synapse_memory_model != "per_synapse":
                continue
            if isinstance(p, ConvProjection):
                explicit = conv_nonzero_synapses(p) * m
                shared = p.kernel_weights(0, p.weight.shape[0]) * m if profile.shared_conv_weights else explicit
                memory += min(explicit, shared) * profile.weight_bits
            else:
                memory += int(np.count_nonzero(p.matrix.data)) * m * profile.weight_bits
    parts = {"neurons": math.ceil(neurons / profile.neurons_per_core),
             "synapse_memory": math.ceil(memory / profile.synapse_memory_bits_per_core),
             "input_axons": math.ceil((sum(used.values()) + relays) / profile.input_axons_per_core),
             "output_axons": math.ceil((sum(n for s, n in used.items() if layers[s].kind != "input") + relays)
                                       / profile.output_axons_per_core)}
    return max(1, *parts.values()), parts


def _nonzero_explicit(network: Network) -> Network:
    """The same graph with every conv as an explicit matrix and every stored zero weight dropped: its synapses are
    exactly the graph's nonzero weights, whatever form a mapper keeps."""
    layers = []
    for layer in network.layers:
        projections = []
        for p in layer.projections:
            if isinstance(p, ConvProjection):
                p = explicit_projection(p) if fits_explicit(p) else p
            elif isinstance(p, MatrixProjection):
                m = p.matrix
                rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
                keep = m.data != 0
                p = MatrixProjection(p.source, p.src_shape, p.tgt_shape,
                                     SparseRows.from_blocks([(rows[keep], m.indices[keep], m.data[keep])], m.shape))
            projections.append(p)
        layers.append(replace(layer, projections=projections))
    return Network(layers, network.coding, network.timesteps)


def one_axon_bound(network: Network, profile: Profile) -> tuple[int, dict] | None:
    """(cores, {part: cores}) on a profile whose neurons drive one output axon each (TrueNorth), None elsewhere:
    the graph-only bound with the copies of each source neuron that its readers force (docs/mapping.md, "One
    output axon per neuron").

    k_s, a lower bound on the cores that read source neuron s (`splitter_bound.source_cores`: conflict cliques
    among its readers, their input union / axons per core, their own copies / neurons per core), costs k_s - 1
    splitter neurons for a neuron (none for a host input) and k_s input axons; so cores >= (neurons + splitters) /
    neurons per core and >= sum_s k_s x axons per source neuron / axons per core, and >= the largest conflict
    clique of a layer. The `_lp` parts count the same with each population's copies bounded, where it is proven,
    by the configuration LP of the layer that reads it most (`copies_lp`)."""
    if profile.output_axons_per_neuron != 1:
        return None
    explicit = _nonzero_explicit(network)
    layers = explicit.by_name()
    multiplicity = lambda name: axon_multiplicity(layers[name], profile)  # noqa: E731
    needed, clique = source_cores(explicit, profile.input_axons_per_core, profile.neurons_per_core, multiplicity)
    plain, _ = graph_bound(network, profile)
    neurons = sum(l.size * l.units for l in network.layers if l.kind != "input")
    splitters = sum(int(np.maximum(c - 1, 0).sum()) for name, c in needed.items() if layers[name].kind != "input")
    copies = sum(int(c.sum()) * multiplicity(name) for name, c in needed.items())
    lp_splitters, lp_copies = _lp_counts(explicit, profile, needed, multiplicity)
    parts = {"graph": plain,
             "neurons_and_splitters": math.ceil((neurons + splitters) / profile.neurons_per_core),
             "input_axon_copies": math.ceil(copies / profile.input_axons_per_core),
             "conflict_clique": clique,
             "neurons_and_splitters_lp": math.ceil((neurons + lp_splitters) / profile.neurons_per_core),
             "input_axon_copies_lp": math.ceil(lp_copies / profile.input_axons_per_core)}
    return max(1, *parts.values()), parts


def _lp_counts(explicit: Network, profile: Profile, needed: dict[str, np.ndarray], multiplicity) -> tuple[int, int]:
    """(splitters, input axons) that every mapping needs, with the copies of each population's neurons bounded by
    the configuration LP of one of its reading layers (`copies_lp.copies_lp_bound`) where that LP is proven, and
    by the per-neuron counts `needed` elsewhere (docs/mapping.md, "the configuration LP")."""
    layers = explicit.by_name()
    read = {name: np.zeros(layers[name].size, bool) for name in needed}
    synapses: dict[str, dict[str, int]] = {}
    for layer in explicit.layers:
        for p in layer.projections:
            if p.source in read:
                read[p.source][np.unique(p.matrix.indices)] = True
            synapses.setdefault(p.source, {})
            synapses[p.source][layer.name] = synapses[p.source].get(layer.name, 0) + len(p.matrix.indices)
    # each population is charged to the layer that reads it through the most synapses: the copies its neurons
    # get are at least that layer's LP over the populations charged to it (other readers only add copies)
    charged: dict[str, list[str]] = {}
    for source, by_reader in synapses.items():
        if source in needed and layers[source].kind != "input" and by_reader:
            charged.setdefault(max(by_reader, key=lambda r: (by_reader[r], -explicit.layers.index(layers[r]))),
                               []).append(source)
    copies = {name: int(c.sum()) for name, c in needed.items()}           # per population: a lower bound on sum k_s
    for reader, sources in charged.items():
        built = _reads(layers[reader], multiplicity)
        if built is None:
            continue
        matrix, weight, owners = built
        cost = np.concatenate([np.full(width, 1.0 if src in sources else 0.0) for src, width in owners])
        own = needed.get(reader, np.zeros(layers[reader].size, np.int64))
        neuron_cost = layers[reader].units + np.maximum(own - 1, 0)
        chosen = lp_neurons(matrix, weight, profile.input_axons_per_core)
        if chosen.size == 0:
            continue
        matrix = matrix[chosen]
        value = copies_lp_bound(matrix, cost, weight, neuron_cost[chosen], profile.input_axons_per_core,
                                profile.neurons_per_core)
        if value is None:
            continue
        # copies of the charged neurons that the chosen readers do not read still come from `needed`
        start, unread = 0, 0
        for src, width in owners:
            if src in sources:
                unread += int(needed[src][~matrix[:, start:start + width].any(axis=0)].sum())
            start += width
        lp = math.ceil(value - 1e-6) + unread
        extra = lp - sum(copies[src] for src in sources)
        if extra > 0:
            # the LP bounds the charged populations' copies together: the extra goes where an axon costs least
            copies[min(sources, key=lambda src: (multiplicity(src), sources.index(src)))] += extra
    # populations whose neurons are read on sum k_s cores need sum (k_s - 1) over their read neurons as splitters;
    # the populations charged to one layer count together (the LP bounds only their sum)
    together = [sources for sources in charged.values()]
    grouped = {name for sources in together for name in sources}
    together += [[name] for name in needed if name not in grouped and layers[name].kind != "input"]
    splitters = sum(max(sum(copies[n] - int(read[n].sum()) for n in group),
                        sum(int(np.maximum(needed[n] - 1, 0).sum()) for n in group)) for group in together)
    axons = sum(copies[name] * multiplicity(name) for name in needed)
    return splitters, axons
