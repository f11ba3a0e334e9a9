"""`snncc map --check`: recompute every limit of a mapping file from the graph, independently of the partitioner.

The checker reads only the graph and the mapping file. It rebuilds the layers (and, when the file says the weights
were quantized, the same integer weights), then for every core enumerates its synapses explicitly, neuron by neuron
(`rows_csr`: each neuron's kernel taps or matrix row), instead of the partitioner's halo boxes and closed-form
counts. From those explicit synapses it recounts neurons, input axons, synapses, memory, output axons, splitter
neurons and the routing table, and compares them with the file and with the profile's limits. It returns the list
of violations (empty when the mapping is valid).
"""

from __future__ import annotations

import numpy as np

from snncc.backends.coremap.mapfile import slice_from_json
from snncc.backends.coremap.mapper import ir_digest
from snncc.backends.coremap.fan_in import as_recorded
from snncc.backends.coremap.network import ConvProjection, MappingError, extract
from snncc.backends.coremap.partition import axon_multiplicity
from snncc.backends.coremap.pool_stage import pool_stages_for
from snncc.backends.coremap.profile import ProfileError, profile_from_dict
from snncc.backends.coremap.quantize import quantize
from snncc.ir import Graph


def _rows(shape3, c0, c1, r0, r1, q0, q1) -> np.ndarray:
    _, h, w = shape3
    out = []
    for c in range(c0, c1):
        for r in range(r0, r1):
            base = (c * h + r) * w
            out.append(np.arange(base + q0, base + q1))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _read_sources(p, s, rows: np.ndarray, mark: np.ndarray) -> int:
    """Flag in `mark` every source neuron a synapse of the slice's neurons (`rows`, the flat indices of box `s`)
    reads; returns their synapses. A matrix lists them row by row (`rows_csr`). A conv's neurons at one output
    position all read the same kernel taps, each in every channel of its group: the taps that land inside the input
    are listed position by position (`rows_csr` of one output channel reading one input channel), and crossed with
    the channels the slice's groups read; each neuron has (its group's channels) x (its position's taps) synapses.
    The same sets and counts as listing every synapse (`rows_csr` of all rows), without the channel factor."""
    if not isinstance(p, ConvProjection):
        _, src, _ = p.rows_csr(rows)
        mark[src] = True
        return int(src.size)
    o_all, h_all, w_all = p.tgt_shape
    cg = p.weight.shape[1]
    og = p.weight.shape[0] // p.groups
    taps = ConvProjection(p.source, (1,) + tuple(p.src_shape[1:]), (1, h_all, w_all),
                          np.ones((1, 1) + tuple(p.weight.shape[2:]), np.float32), p.strides, p.pads, p.dilations, 1)
    positions = _rows((1, h_all, w_all), 0, 1, s.r0, s.r1, s.q0, s.q1)
    _, spatial, _ = taps.rows_csr(positions)
    groups = np.unique(np.arange(s.c0, s.c1) // og)
    channels = (p.channel_offset + groups[:, None] * cg + np.arange(cg)[None, :]).reshape(-1)
    plane = p.src_shape[1] * p.src_shape[2]
    mark[(channels[:, None] * plane + spatial[None, :]).reshape(-1)] = True
    if rows.size != (s.c1 - s.c0) * positions.size:
        raise MappingError(f"internal: slice {s} is not a box")
    return int((s.c1 - s.c0) * cg * spatial.size)


def check_mapping(graph: Graph, doc: dict) -> list[str]:
    """Every violation of the mapping `doc` (a loaded mapping file) for `graph`; [] when it is valid."""
    problems: list[str] = []
    try:
        profile = profile_from_dict(doc["profile"], "the mapping's profile")
    except ProfileError as exc:
        return [str(exc)]
    if doc.get("profile_sha256") != profile.digest():
        problems.append("profile_sha256 does not match the embedded profile")
    if doc.get("source_ir_sha256") != ir_digest(graph):
        problems.append("source_ir_sha256 does not match this graph: the mapping was made for another IR")
    try:
        network = pool_stages_for(extract(graph), profile)
        if doc.get("quantization"):
            network = quantize(network, profile, None).network
        network = as_recorded(network, profile, doc)
    except MappingError as exc:
        return problems + [str(exc)]
    layers = network.by_name()
    owner = {l.name: np.full(l.size, -1, np.int64) for l in network.layers if l.kind != "input"}
    cores = doc["cores"]
    ids = [c.get("id") for c in cores]
    if ids != list(range(len(cores))):
        problems.append(f"core ids are not 0..{len(cores) - 1} in order")
    # 1. slices: inside their layer, each neuron on exactly one core
    header_problems = len(problems)
    parsed: list[list] = []
    for k, core in enumerate(cores):
        slices = []
        for d in core.get("slices", []):
            try:
                s = slice_from_json(d)
            except (KeyError, TypeError, ValueError):
                problems.append(f"core {k}: malformed slice {d!r}")
                continue
            layer = layers.get(s.layer)
            if layer is None or layer.kind == "input":
                problems.append(f"core {k}: slice of unknown layer {s.layer!r}")
                continue
            c, h, w = layer.shape3
            if not (0 <= s.c0 < s.c1 <= c and 0 <= s.r0 < s.r1 <= h and 0 <= s.q0 < s.q1 <= w):
                problems.append(f"core {k}: slice {d} lies outside layer {s.layer} of shape {[c, h, w]}")
                continue
            if d.get("neurons") != s.count:
                problems.append(f"core {k}: slice {d} says {d.get('neurons')} neurons, its box holds {s.count}")
            rows = _rows(layer.shape3, *s.box())
            taken = owner[s.layer][rows]
            if np.any(taken >= 0):
                problems.append(f"core {k}: {int(np.sum(taken >= 0))} neurons of {s.layer} are also on core "
                                f"{int(taken[taken >= 0][0])}")
            owner[s.layer][rows] = k
            slices.append((s, rows))
        parsed.append(slices)
    for name, own in owner.items():
        missing = int(np.sum(own < 0))
        if missing:
            problems.append(f"layer {name}: {missing} of {own.size} neurons are on no core")
    if len(problems) > header_problems:
        return problems  # the counts below need a well-formed cover of every layer
    # 2. explicit synapses per core
    n_cores = len(cores)
    recount = []
    destinations = {name: np.zeros(l.size, np.int64) for name, l in layers.items() if l.kind != "input"}
    routes: dict[tuple, int] = {}
    marks = {name: np.zeros(l.size, bool) for name, l in layers.items()}     # a core's axons, one flag per source
    for k, slices in enumerate(parsed):
        neurons = synapses = memory = 0
        axons: dict[str, np.ndarray] = {}
        kernels: set = set()
        for s, rows in slices:
            layer = layers[s.layer]
            neurons += rows.size * layer.units
            for i, p in enumerate(layer.projections):
                mult = axon_multiplicity(layers[p.source], profile)
                count = _read_sources(p, s, rows, marks[p.source])
                axons[p.source] = marks[p.source]
                synapses += count * mult
                if isinstance(p, ConvProjection) and profile.shared_conv_weights and \
                        profile.synapse_memory_model == "per_synapse":
                    per_channel = int(np.prod(p.weight.shape[1:])) * mult * profile.weight_bits
                    for ch in range(s.c0, s.c1):
                        if (s.layer, i, ch) not in kernels:
                            kernels.add((s.layer, i, ch))
                            memory += per_channel
                else:
                    memory += count * mult * profile.weight_bits
        merged = {}
        for src, mark in axons.items():      # each source neuron once, in increasing order
            merged[src] = np.flatnonzero(mark)
            mark[merged[src]] = False
        n_axons = sum(v.size * axon_multiplicity(layers[src], profile) for src, v in merged.items())
        if profile.synapse_memory_model == "crossbar":
            memory = n_axons * neurons
        recount.append({"neurons": neurons, "input_axons": n_axons, "synapses": synapses, "memory_bits": memory})
        # 3. destinations and routes from the core's axons (every neuron's core is known from the slices)
        for src, idx in merged.items():
            if layers[src].kind == "input":
                routes[("host", k)] = routes.get(("host", k), 0) + idx.size
                continue
            destinations[src][idx] += 1
            sending, axons_from = np.unique(owner[src][idx], return_counts=True)
            for j, n in zip(sending.tolist(), axons_from.tolist()):
                routes[(j, k)] = routes.get((j, k), 0) + n
    # output axons and splitters from the destinations
    out_axons = np.zeros(n_cores, np.int64)
    splitters = np.zeros(n_cores, np.int64)
    for name, dest in destinations.items():
        out_axons += np.bincount(owner[name], weights=dest, minlength=n_cores).astype(np.int64)
        if profile.output_axons_per_neuron == 1:
            splitters += np.bincount(owner[name], weights=np.maximum(dest - 1, 0), minlength=n_cores).astype(np.int64)
    # 4. compare with the file and the limits
    limits = {"neurons": profile.neurons_per_core, "input_axons": profile.input_axons_per_core,
              "output_axons": profile.output_axons_per_core, "memory_bits": profile.synapse_memory_bits_per_core}
    for k, core in enumerate(cores):
        mine = dict(recount[k])
        mine["neurons"] += int(splitters[k])
        mine["output_axons"] = int(out_axons[k])
        mine["splitter_neurons"] = int(splitters[k])
        for key, value in mine.items():
            if core.get(key) != value:
                problems.append(f"core {k}: file says {key} = {core.get(key)}, recomputed {value}")
        for key, limit in limits.items():
            if mine[key] > limit:
                problems.append(f"core {k}: {key} {mine[key]} exceeds the {profile.name} limit {limit}")
        if core.get("chip") != k // profile.cores_per_chip:
            problems.append(f"core {k}: chip {core.get('chip')} but {profile.cores_per_chip} cores per chip put it on "
                            f"chip {k // profile.cores_per_chip}")
    chips = -(-n_cores // profile.cores_per_chip)
    if chips > profile.max_chips:
        problems.append(f"{chips} chips needed, the profile allows {profile.max_chips}")
    summary = doc["summary"]
    for key, value in (("cores", n_cores), ("chips", chips),
                       ("neurons", sum(c["neurons"] for c in recount) + int(splitters.sum())),
                       ("synapses", sum(c["synapses"] for c in recount)),
                       ("memory_bits", sum(c["memory_bits"] for c in recount))):
        if summary.get(key) != value:
            problems.append(f"summary: file says {key} = {summary.get(key)}, recomputed {value}")
    listed = {}
    for r in doc["routes"]:
        key = (r.get("source"), r.get("destination"))
        if key in listed:
            problems.append(f"route {key[0]} -> {key[1]} is listed twice")
        listed[key] = r.get("axons")
        if not isinstance(r.get("spikes_per_sample"), (int, float)) or r["spikes_per_sample"] < 0:
            problems.append(f"route {key[0]} -> {key[1]}: spikes_per_sample must be a number >= 0")
    for key in sorted(set(listed) | set(routes), key=lambda t: (str(t[0]), t[1])):
        if listed.get(key) != routes.get(key):
            problems.append(f"route {key[0]} -> {key[1]}: file says {listed.get(key)} axons, recomputed "
                            f"{routes.get(key)}")
    return problems
