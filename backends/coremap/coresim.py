"""Core-level simulation: every core runs only from the spikes routed to it.

Built from the graph and a mapping file alone. Each core gets its slices (from the file), its input axons (the
source neurons its slices' synapses read) and one local weight matrix per slice and source, indexed by its own axon
list. Deliveries follow the routing table: the routes are rebuilt from which core owns each source neuron and must
match the file's table axon for axon, so a mapping whose slices or routes are wrong cannot simulate. Every step,
layer by layer in topological order, each core computes its slices' currents from its inbox only, updates its
neurons, and sends the spikes along its routes into the destination cores' inboxes (the host sends the quantized
analog input).

With the quantized integer weights the result must equal the whole-graph simulator on `quantize.to_graph` spike for
spike (`whole_graph_spike_trains`), which is the proof that the cut preserves the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.backends.coremap.mapfile import slice_from_json
from snncc.backends.coremap.fan_in import as_recorded
from snncc.backends.coremap.network import MappingError, extract
from snncc.backends.coremap.pool_stage import pool_stages_for
from snncc.backends.coremap.profile import profile_from_dict
from snncc.backends.coremap.quantize import QuantizedNetwork, quantize
from snncc.ir import Graph


@dataclass
class CoreSimResult:
    """spikes[layer]: (T, N, neurons) float32 spike trains (flat C order); readouts[layer]: (N, neurons) summed
    current over T steps."""

    spikes: dict[str, np.ndarray]
    readouts: dict[str, np.ndarray]


def quantized_from_mapping(graph: Graph, doc: dict) -> QuantizedNetwork:
    """The quantized network a mapping file was made for (same profile, same input grid)."""
    q = doc.get("quantization")
    if not q:
        raise MappingError("the mapping file records no weight quantization; the core-level simulation needs the "
                           "quantized integer weights (rate/IF populations)")
    profile = profile_from_dict(doc["profile"], "the mapping's profile")
    return quantize(pool_stages_for(extract(graph), profile), profile, None, input_scale=float(q["input_scale"]),
                    input_signed=bool(q["input_signed"]))


class _Slice:
    def __init__(self, layer, s, rows):
        self.layer, self.box, self.rows = layer, s, rows
        self.inputs = []        # (source, local matrix (core axons of source, rows))
        self.state = None       # membrane (population) or summed current (readout), (batch, rows)
        self.theta = None


def layout_cores(net, doc: dict) -> tuple[list[list[_Slice]], list[dict[str, np.ndarray]], dict[str, list]]:
    """(slices per core, each core's input axons per source layer, deliveries per source layer) of a mapping file
    over the network it was made for. A delivery (source core or "host", destination core, source neuron indices,
    positions among the destination's axons of that source) carries one route; the routes rebuilt from which core
    owns each source neuron must equal the file's routing table axon for axon (MappingError otherwise)."""
    layers = net.by_name()
    owner = {l.name: np.full(l.size, -1, np.int64) for l in net.layers if l.kind != "input"}
    core_slices: list[list[_Slice]] = []
    for k, core in enumerate(doc["cores"]):
        slices = []
        for d in core["slices"]:
            s = slice_from_json(d)
            layer = layers[s.layer]
            c, h, w = layer.shape3
            cc, rr, qq = np.meshgrid(np.arange(s.c0, s.c1), np.arange(s.r0, s.r1), np.arange(s.q0, s.q1),
                                     indexing="ij")
            rows = ((cc * h + rr) * w + qq).ravel()
            owner[s.layer][rows] = k
            slices.append(_Slice(layer, s, rows))
        core_slices.append(slices)
    for name, own in owner.items():
        if np.any(own < 0):
            raise MappingError(f"layer {name}: {int(np.sum(own < 0))} neurons are on no core of the mapping")
    # each core's axons per source and the local matrices over them
    axons: list[dict[str, np.ndarray]] = []
    for k, slices in enumerate(core_slices):
        needed: dict[str, list] = {}
        explicit = []
        for sl in slices:
            for p in sl.layer.projections:
                pos, src, w = p.rows_csr(sl.rows)
                explicit.append((sl, p.source, pos, src, w))
                needed.setdefault(p.source, []).append(np.unique(src))
        mine = {src: np.unique(np.concatenate(parts)) for src, parts in needed.items()}
        for sl, source, pos, src, w in explicit:
            local = np.zeros((mine[source].size, sl.rows.size), np.float32)
            np.add.at(local, (np.searchsorted(mine[source], src), pos), w)
            sl.inputs.append((source, local))
        axons.append(mine)
    # routes rebuilt from ownership, checked against the file's routing table
    deliveries: dict[str, list] = {}     # source layer -> [(src core or "host", dst core, src idx, dst positions)]
    counted: dict[tuple, int] = {}
    for k, mine in enumerate(axons):
        for src, idx in mine.items():
            if layers[src].kind == "input":
                deliveries.setdefault(src, []).append(("host", k, idx, np.arange(idx.size)))
                counted[("host", k)] = counted.get(("host", k), 0) + idx.size
                continue
            owners = owner[src][idx]
            for j in np.unique(owners):
                sel = np.nonzero(owners == j)[0]
                deliveries.setdefault(src, []).append((int(j), k, idx[sel], sel))
                counted[(int(j), k)] = counted.get((int(j), k), 0) + sel.size
    table = {(r["source"], r["destination"]): r["axons"] for r in doc["routes"]}
    if table != counted:
        wrong = sorted(set(table.items()) ^ set(counted.items()), key=str)[:5]
        raise MappingError(f"the mapping's routing table does not carry the spikes its slices need: {wrong}")
    return core_slices, axons, deliveries


def slices_by_layer(net, core_slices: list[list[_Slice]]) -> dict[str, list[tuple[int, _Slice]]]:
    """(core, slice) pairs of every non-input layer, cores in order."""
    return {l.name: [(k, sl) for k, slices in enumerate(core_slices) for sl in slices if sl.layer is l]
            for l in net.layers if l.kind != "input"}


def routed(sent: dict[int, list], routes: list):
    """Yield (destination core, positions among its axons, source indices, values) for each route of one layer.
    `sent[core]` lists the (rows, values (..., rows)) its slices produced; a source core sends only its own
    neurons' values, taken along the last axis."""
    outbox = {}
    for k, parts in sent.items():
        rows = np.concatenate([r for r, _ in parts])
        outbox[k] = (np.argsort(rows), rows, np.concatenate([v for _, v in parts], axis=-1))
    for j, k, idx, pos in routes:
        order, rows, values = outbox[j]
        yield k, pos, idx, values[..., order[np.searchsorted(rows, idx, sorter=order)]]


def simulate_cores(graph: Graph, doc: dict, x: np.ndarray, timesteps: int | None = None) -> CoreSimResult:
    """Run the mapped network core by core on raw input `x` (quantized here to the file's input grid)."""
    qnet = quantized_from_mapping(graph, doc)
    profile = profile_from_dict(doc["profile"], "the mapping's profile")
    net = as_recorded(qnet.network, profile, doc)
    layers = net.by_name()
    steps = int(timesteps or doc.get("timesteps") or net.timesteps)
    core_slices, axons, deliveries = layout_cores(net, doc)
    # run
    xq = qnet.quantize_input(x).reshape(len(x), -1)
    batch = len(x)
    inbox = [{src: np.zeros((batch, idx.size), np.float32) for src, idx in mine.items()} for mine in axons]
    for src, routes in deliveries.items():
        if layers[src].kind == "input":
            for _, k, idx, pos in routes:
                inbox[k][src][:, pos] = xq[:, idx]
    for slices in core_slices:
        for sl in slices:
            layer = sl.layer
            if layer.kind == "population":
                sl.theta = np.broadcast_to(qnet.thetas[layer.name], layer.shape).reshape(-1)[sl.rows].astype(np.float32)
                sl.state = np.ascontiguousarray(np.broadcast_to(np.float32(layer.node.v0) * sl.theta,
                                                                (batch, sl.rows.size)))
                sl.count = np.zeros((batch, sl.rows.size), np.float32)      # net spikes (signed neurons)
            else:
                sl.state = np.zeros((batch, sl.rows.size), np.float32)
    order = [l for l in net.layers if l.kind != "input"]
    by_layer = slices_by_layer(net, core_slices)
    spikes = {l.name: np.zeros((steps, batch, l.size), np.float32) for l in order if l.kind == "population"}
    readouts = {l.name: np.zeros((batch, l.size), np.float32) for l in order if l.kind == "readout"}
    for t in range(steps):
        for layer in order:
            out = {}
            for k, sl in by_layer[layer.name]:
                current = np.zeros((batch, sl.rows.size), np.float32)
                for source, local in sl.inputs:
                    current += inbox[k][source] @ local
                if layer.bias is not None:
                    current += layer.bias[sl.rows]
                if layer.kind == "population":
                    v = sl.state
                    v += current
                    s = _fire(layer, v, sl)
                    spikes[layer.name][t][:, sl.rows] = s
                    out.setdefault(k, []).append((sl.rows, s))
                elif layer.kind == "relay":     # a partial sum leaves as a graded spike every step
                    out.setdefault(k, []).append((sl.rows, current))
                else:
                    sl.state += current
            if layer.kind not in ("population", "relay"):
                continue
            # deliver this step's spikes (relays: partial sums)
            for k, pos, _, values in routed(out, deliveries.get(layer.name, [])):
                inbox[k][layer.name][:, pos] = values
    for k, slices in enumerate(core_slices):
        for sl in slices:
            if sl.layer.kind == "readout":
                readouts[sl.layer.name][:, sl.rows] = sl.state
    return CoreSimResult(spikes, readouts)


def _fire(layer, v: np.ndarray, sl) -> np.ndarray:
    """One step of the population's neurons on membrane v (updated in place): soft-reset IF, or the dual-threshold
    signed neuron (-1 when v < theta_n theta and its net count is positive)."""
    up = v >= sl.theta
    s = up.astype(np.float32)
    if layer.op == "signed_neuron":
        theta_n = layer.node.theta_n
        if theta_n is not None and np.isfinite(theta_n):
            s -= ~up & (v < np.float32(theta_n) * sl.theta) & (sl.count > 0)
        sl.count += s
    v -= s * sl.theta
    return s


def whole_graph_spike_trains(graph: Graph, x: np.ndarray, timesteps: int) -> CoreSimResult:
    """The reference: the simulator's kernels on the whole (quantized) graph, stepped like its concurrent schedule,
    recording every population's spikes at every step and the summed readout values."""
    from snncc.backends.simulator import build_program
    from snncc.backends.simulator import kernels

    program = build_program(graph)
    run = kernels.RunOptions("analog", 0, "dense")
    batch = len(x)
    bound = program.bind({program.inputs[0]: np.asarray(x, np.float32)}, batch, run)
    neurons = [k for k in program.kernels if isinstance(k, kernels.NeuronKernel)]
    spikes = {k.name: np.zeros((timesteps, batch, int(np.prod(k.shape))), np.float32) for k in neurons}
    sums = {name: np.zeros((batch, int(np.prod(sig.value.shape[1:]))), np.float32) for name, sig in bound.items()}
    moving = [k for k in program.kernels if not k.output.static]
    for t in range(1, timesteps + 1):
        for kernel in (program.kernels if t == 1 else moving):
            kernel.step(t)
        for k in neurons:
            spikes[k.name][t - 1] = k.spikes.reshape(batch, -1)
        for name, sig in bound.items():
            sums[name] += sig.value.reshape(batch, -1)
    return CoreSimResult(spikes, sums)
