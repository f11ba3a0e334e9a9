"""Core-level simulation of the windowed codings (phase, bits, AMOS, TTFS): every core runs from the frames routed
to it.

Cores, axons and routes come from the mapping file as in `coresim` (`layout_cores`: the routes rebuilt from the
slices must equal the file's routing table). These codings run one window per layer. A core computes the complete
pre-activation of its slices from its inbox, and its neurons emit their K spike frames through the IR ops' own
functions (`phase_frames`, `bit_serial`, `fs_circuit_frames`, `ttfs_frames`). The frames travel along the routes,
and the destination weighs frame k by the source neuron's per-step synapse scale: phase theta B^-k, bits
Delta 2^(T-k), AMOS d(k) plus the circuit's offset e, TTFS Delta (K - k). That is the per-step scaling the mapping
counts as extra weights or state. Partial-sum relays send their graded sums, product relays (squeeze-excitation
x * s) the product of their two operands' values. A first-spike pool (phase, TTFS MaxPool)
takes the largest decoded input of its window and relays it as one spike coded like its source population's (the
earliest input spike).

The reference (`whole_network_windowed`) evaluates the same network with each layer's whole weight matrix and no
cores. Equal frames show that the cut and the routes preserve the network. No integer model of these codings
exists here, so the weights are the compiled float weights and the sums run in float64. A different summation
order moves a pre-activation by about 1e-16, so the two can disagree only on an exact tie with a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from snncc.backends.coremap.coresim import layout_cores, routed, slices_by_layer
from snncc.backends.coremap.fan_in import as_recorded
from snncc.backends.coremap.network import PRODUCT_OP, ConvProjection, Layer, MappingError, Network, extract
from snncc.backends.coremap.pool_stage import pool_stages_for
from snncc.backends.coremap.profile import profile_from_dict
from snncc.ir import Graph
from snncc.ir.ops_amos import fs_circuit_decode, fs_circuit_frames
from snncc.ir.ops_bits import bit_serial, bits_decode
from snncc.ir.ops_phase import phase_decode, phase_frames
from snncc.ir.ops_ttfs import ttfs_decode, ttfs_frames

WINDOWED_OPS = ("phase_neuron", "bits_neuron", "fs_neuron", "ttfs_neuron")


@dataclass
class WindowedResult:
    """frames[layer]: (K, N, neurons) float32 spike frames of one window (flat C order); readouts[layer]: (N,
    neurons) float64 complete pre-activations of the readout layers."""

    frames: dict[str, np.ndarray]
    readouts: dict[str, np.ndarray]


def _theta(layer: Layer, rows: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.asarray(layer.theta, np.float32), layer.shape).reshape(-1)[rows]


def coder(layer: Layer, layers: dict[str, Layer]) -> Layer:
    """The layer whose frames code `layer`'s values: itself, or for a first-spike pool the population it pools
    (one channel shares theta and K, so the pooled maximum is re-coded exactly as the earliest input spike)."""
    if layer.op != "first_spike_pool":
        return layer
    source = layers[layer.projections[0].source]
    return Layer(layer.name, source.op, layer.kind, layer.shape, source.node, source.model, theta=source.theta,
                 circuits=source.circuits)


def pool_max(values: np.ndarray, member) -> np.ndarray:
    """(batch, rows): the largest of `values` (batch, sources) over each row's sources (the non-zeros of column r
    of `member` (sources, rows), dense or sparse); padding never fires, so a first-spike pool's output is the
    maximum of its window's decoded inputs (0 for a row without sources)."""
    m = sparse.csc_matrix(member)
    m.eliminate_zeros()
    out = np.zeros((values.shape[0], m.shape[1]), dtype=values.dtype)
    filled = np.diff(m.indptr) > 0
    if filled.any():
        gathered = values[:, m.indices]
        out[:, filled] = np.maximum.reduceat(gathered, m.indptr[:-1][filled], axis=1)
    return out


def _fs_parameters(layer: Layer, rows: np.ndarray) -> tuple:
    """An fs_neuron's (T, h, d, e) for neurons `rows`: the shared circuit, or each row's channel's circuit (arrays
    (K, rows) and (rows,)) when it has per-channel circuits."""
    node = layer.node
    if layer.circuits is None:
        return node.thresholds, node.resets, node.weights, node.bias_offset
    k, shape = int(node.steps), tuple(layer.shape)
    steps = [np.broadcast_to(a, (k,) + shape).reshape(k, -1)[:, rows] for a in layer.circuits[:3]]
    return steps[0], steps[1], steps[2], np.broadcast_to(layer.circuits[3], shape).reshape(-1)[rows]


def emit(layer: Layer, v: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Spike frames (K, batch, rows) float32 of the layer's neurons `rows` on pre-activations v (batch, rows)."""
    node = layer.node
    if layer.op == "phase_neuron":
        frames, _ = phase_frames(v.astype(np.float32), _theta(layer, rows), node.base, node.phases, node.shift,
                                 node.multi_spike)
        return frames
    if layer.op == "bits_neuron":
        frames, _ = bit_serial(v.astype(np.float32), _theta(layer, rows), node.timesteps)
        return frames
    if layer.op == "ttfs_neuron":
        frames, _ = ttfs_frames(v.astype(np.float32), _theta(layer, rows), node.steps)
        return frames
    if layer.op == "fs_neuron":
        thresholds, resets, _, _ = _fs_parameters(layer, rows)
        return fs_circuit_frames(v, thresholds, resets, node.ge).astype(np.float32)
    raise MappingError(f"layer %{layer.name} ({layer.op}): the windowed core simulation runs "
                       f"{', '.join(WINDOWED_OPS)} populations only")


def decode(layer: Layer, frames: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """What the consumers of source neurons `rows` receive over the window, float64 (batch, rows)."""
    node = layer.node
    nothing = np.zeros((0, rows.size), np.float32)     # the ops' frame weights, from an empty batch
    if layer.op == "phase_neuron":
        _, weights = phase_frames(nothing, _theta(layer, rows), node.base, node.phases, node.shift, node.multi_spike)
        return phase_decode(frames, weights, node.multi_spike).astype(np.float64)
    if layer.op == "bits_neuron":
        _, weights = bit_serial(nothing, _theta(layer, rows), node.timesteps)
        return bits_decode(frames, weights).astype(np.float64)
    if layer.op == "ttfs_neuron":
        _, weights = ttfs_frames(nothing, _theta(layer, rows), node.steps)
        return ttfs_decode(frames, weights).astype(np.float64)
    _, _, weights, bias_offset = _fs_parameters(layer, rows)
    return fs_circuit_decode(frames, weights, bias_offset)


def _check_windowed(net: Network) -> None:
    for layer in net.layers:
        if layer.kind == "population" and coder(layer, net.by_name()).op not in WINDOWED_OPS:
            raise MappingError(f"layer %{layer.name} ({layer.op}) is not a windowed population; the rate and signed "
                               "codings have their integer core simulation (`simulate_cores`)")


def simulate_cores_windowed(graph: Graph, doc: dict, x: np.ndarray) -> WindowedResult:
    """Run one window of the mapped network core by core on input `x` (the host sends it unchanged)."""
    profile = profile_from_dict(doc["profile"], "the mapping's profile")
    net = as_recorded(pool_stages_for(extract(graph), profile), profile, doc)
    _check_windowed(net)
    layers = net.by_name()
    core_slices, axons, deliveries = layout_cores(net, doc)
    by_layer = slices_by_layer(net, core_slices)
    batch = len(x)
    flat = np.asarray(x, np.float64).reshape(batch, -1)
    inbox = [{src: np.zeros((batch, idx.size)) for src, idx in mine.items()} for mine in axons]
    for src, routes in deliveries.items():
        if layers[src].kind == "input":
            for _, k, idx, pos in routes:
                inbox[k][src][:, pos] = flat[:, idx]
    coders = {l.name: coder(l, layers) for l in net.layers if l.kind == "population"}
    frames = {name: np.zeros((_steps(c), batch, layers[name].size), np.float32) for name, c in coders.items()}
    readouts = {l.name: np.zeros((batch, l.size)) for l in net.layers if l.kind == "readout"}
    for layer in net.layers:
        if layer.kind == "input":
            continue
        sent: dict[int, list] = {}
        for k, sl in by_layer[layer.name]:
            v = np.zeros((batch, sl.rows.size))
            for source, local in sl.inputs:
                if layer.op == "first_spike_pool":
                    v = pool_max(inbox[k][source], local)
                else:
                    v += inbox[k][source] @ local.astype(np.float64)
            if layer.op == PRODUCT_OP:      # operand 0 times operand 1, each the sum of its sources
                operand = {p.source: p.operand for p in layer.projections}
                a, b = np.zeros((batch, sl.rows.size)), np.zeros((batch, sl.rows.size))
                for source, local in sl.inputs:
                    (a if operand[source] == 0 else b)[:] += inbox[k][source] @ local.astype(np.float64)
                v = a * b
            if layer.bias is not None:
                v += layer.bias[sl.rows]
            if layer.kind == "readout":
                readouts[layer.name][:, sl.rows] = v
                continue
            payload = emit(coders[layer.name], v, sl.rows) if layer.kind == "population" else v[None]   # relays: sums
            if layer.kind == "population":
                frames[layer.name][:, :, sl.rows] = payload
            sent.setdefault(k, []).append((sl.rows, payload))
        for k, pos, idx, part in routed(sent, deliveries.get(layer.name, [])):
            inbox[k][layer.name][:, pos] = decode(coders[layer.name], part, idx) if layer.kind == "population" \
                else part[0]
    return WindowedResult(frames, readouts)


def _steps(layer: Layer) -> int:
    """K: the frames one window of the population emits."""
    attribute = {"phase_neuron": "phases", "bits_neuron": "timesteps", "fs_neuron": "steps",
                 "ttfs_neuron": "steps"}[layer.op]
    return int(getattr(layer.node, attribute))


def _whole_matrix(p, size: int) -> sparse.csr_matrix:
    if isinstance(p, ConvProjection):
        pos, src, w = p.rows_csr(np.arange(size))
        return sparse.csr_matrix((w.astype(np.float64), (pos, src)), shape=(size, int(np.prod(p.src_shape))))
    m = p.matrix
    return sparse.csr_matrix((m.data.astype(np.float64), m.indices, m.indptr), shape=m.shape)


def whole_network_windowed(net: Network, x: np.ndarray) -> WindowedResult:
    """The reference: one window of the network with each layer's whole weight matrix (no cores, no routes)."""
    _check_windowed(net)
    batch = len(x)
    layers = net.by_name()
    values = {}
    frames, readouts = {}, {}
    for layer in net.layers:
        if layer.kind == "input":
            values[layer.name] = np.asarray(x, np.float64).reshape(batch, -1)
            continue
        v = np.zeros((batch, layer.size))
        for p in layer.projections:
            if layer.op == "first_spike_pool":
                v = pool_max(values[p.source], _whole_matrix(p, layer.size).T)
            else:
                v += (_whole_matrix(p, layer.size) @ values[p.source].T).T
        if layer.op == PRODUCT_OP:
            a, b = np.zeros((batch, layer.size)), np.zeros((batch, layer.size))
            for p in layer.projections:
                (a if p.operand == 0 else b)[:] += (_whole_matrix(p, layer.size) @ values[p.source].T).T
            v = a * b
        if layer.bias is not None:
            v += layer.bias
        rows = np.arange(layer.size)
        if layer.kind == "readout":
            readouts[layer.name] = v
        elif layer.kind == "population":
            code = coder(layer, layers)
            frames[layer.name] = emit(code, v, rows)
            values[layer.name] = decode(code, frames[layer.name], rows)
        else:
            values[layer.name] = v
    return WindowedResult(frames, readouts)
