"""Weight quantization to a profile's precision, with the scale folded into the threshold.

For a population with threshold theta (scalar or per channel) and incoming weights W over all its projections, a
scale s per threshold group g (per channel when theta is per channel, per layer when theta is a scalar; always per
layer for a readout, so that its argmax is unchanged) is

    s_g = max_{i in g, j} |W_ij| / (2^(b-1) - 1)                  (b = profile.weight_bits)
    W'_ij = round(W_ij / s_g),  bias'_i = round(b_i / s_g),  theta'_g = max(1, round(theta_g / s_g))

so the membrane runs in units of one weight step: integer weights, integer bias, integer threshold, as the cores do.
The analog input is quantized to 8 bits with one scale s_x (unsigned when the calibration data is non-negative)
folded into the first layers' weights: x' = round(x / s_x). With integer weights and integer inputs every current is
an exact float32 integer, so the whole-graph simulator and the core-level simulator agree spike for spike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from snncc.backends.coremap.network import (ConvProjection, Layer, MappingError, MatrixProjection, Network)
from snncc.backends.coremap.profile import Profile
from snncc.ir import Add, Affine, Conv, Dense, Flatten, Graph, IFNeuron, Input, Reshape, SignedNeuron, TensorType
from snncc.ir.node import ConstRef

INPUT_BITS = 8
QUANTIZABLE_OPS = {"if_neuron", "signed_neuron"}   # thresholds in units of theta: the scale folds in


@dataclass
class QuantizedNetwork:
    """The network with integer-valued weights, biases and thresholds, and the input grid x' = round(x / input_scale)."""

    network: Network
    thetas: dict[str, np.ndarray]       # population -> integer threshold, broadcast-ready against its shape
    input_scale: float
    input_signed: bool
    weight_bits: int
    clipped_thresholds: int

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """x' = round(x / s_x), clipped to the input grid."""
        lo, hi = (-(2 ** (INPUT_BITS - 1) - 1), 2 ** (INPUT_BITS - 1) - 1) if self.input_signed else (0, 2 ** INPUT_BITS - 1)
        return np.clip(np.round(np.asarray(x, np.float64) / self.input_scale), lo, hi).astype(np.float32)


def _group_axes(theta_shape: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """Axes of `shape` that one threshold value spans (theta broadcasts along them)."""
    padded = (1,) * (len(shape) - len(theta_shape)) + tuple(theta_shape)
    return tuple(i for i, (t, s) in enumerate(zip(padded, shape)) if t == 1 and s != 1)


def _row_maxabs(layer: Layer) -> np.ndarray:
    out = np.zeros(layer.size, np.float32)
    c, h, w = layer.shape3
    for p in layer.projections:
        if isinstance(p, ConvProjection):
            out = np.maximum(out, np.repeat(p.max_abs_per_channel(), h * w))
        else:
            out = np.maximum(out, p.max_abs_per_row())
    return out


def _scaled(p, per_row: np.ndarray, shape3):
    if isinstance(p, ConvProjection):
        c, h, w = shape3
        per_channel = per_row.reshape(c, h * w)
        if not np.all(per_channel == per_channel[:, :1]):
            raise MappingError("internal: a conv projection got a scale that is not per channel")
        return p.scaled(per_channel[:, 0])
    return p.scaled(per_row)


def weight_dtype(max_weight: int) -> np.dtype:
    """The narrowest signed integer type that holds weights in [-max_weight, max_weight]."""
    for dtype in (np.int8, np.int16, np.int32):
        if max_weight <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _rounded(p, max_weight: int):
    if isinstance(p, ConvProjection):
        # integer kernels in the narrowest type: a quarter of float32 at 8 bits (the largest arrays a map holds)
        w = np.clip(np.round(p.weight), -max_weight, max_weight).astype(weight_dtype(max_weight))
        return replace(p, weight=w)
    data = np.clip(np.round(p.matrix.data), -max_weight, max_weight).astype(np.float32)
    return MatrixProjection(p.source, p.src_shape, p.tgt_shape, p.matrix.with_data(data).kept(data != 0))


def quantize(network: Network, profile: Profile, calibration: np.ndarray | None, *,
             input_scale: float | None = None, input_signed: bool | None = None,
             release: bool = False) -> QuantizedNetwork:
    """Quantize every projection to `profile.weight_bits` (see the module docstring). The input grid comes from the
    calibration data, or from `input_scale`/`input_signed` (as recorded in a mapping file).

    `release`: the caller gives `network` up; each float layer leaves `network.layers` once its integer copy exists,
    so that the float weights (read from a lazily loaded graph, `ir.lazy_load`) go layer by layer instead of being
    held beside the whole integer network. `network.layers` is empty afterwards."""
    bad = sorted({l.op for l in network.layers if l.kind == "population" and l.op not in QUANTIZABLE_OPS})
    if bad:
        raise MappingError(f"weight quantization is implemented for {', '.join(sorted(QUANTIZABLE_OPS))} only, "
                           f"not for {', '.join(bad)}")
    kinds = {l.name: l.kind for l in network.layers}
    if calibration is not None and len(calibration):
        x = np.asarray(calibration, np.float32)
        signed = bool(np.min(x) < 0)
        peak = float(np.max(np.abs(x)))
    else:
        signed, peak = True, 1.0
    levels = 2 ** (INPUT_BITS - 1) - 1 if signed else 2 ** INPUT_BITS - 1
    if input_scale is None:
        input_scale = (peak / levels) if peak > 0 else 1.0
    else:
        signed = bool(input_signed)
    max_weight = (1 << (profile.weight_bits - 1)) - 1
    thetas: dict[str, np.ndarray] = {}
    clipped = 0
    new_layers = []
    for index in range(len(network.layers)):
        layer = network.layers[index]
        if release:
            network.layers[index] = None
        if layer.kind in ("input", "relay"):     # a relay's unit weights already send exact integer sums
            new_layers.append(layer)
            continue
        layer, theta, over = _quantized_layer(layer, kinds, input_scale, max_weight, profile)
        new_layers.append(layer)
        if theta is not None:
            thetas[layer.name] = theta
        clipped += over
    if release:
        network.layers.clear()
    return QuantizedNetwork(Network(new_layers, network.coding, network.timesteps), thetas, input_scale, signed,
                            profile.weight_bits, clipped)


def _narrowest(values: np.ndarray) -> np.ndarray:
    """Integer-valued float32 values in the narrowest integer type that holds them (a per-neuron bias is as large
    as a layer); float32 when they exceed int32."""
    top = float(np.abs(values).max(initial=0.0))
    for dtype in (np.int8, np.int16, np.int32):
        if top <= np.iinfo(dtype).max:
            return values.astype(dtype)
    return values


def _quantized_layer(layer: Layer, kinds: dict[str, str], input_scale: float, max_weight: int,
                     profile: Profile) -> tuple[Layer, np.ndarray | None, int]:
    """(the layer with integer weights and bias, its integer threshold or None, thresholds clipped)."""
    projections = []
    for p in layer.projections:
        if kinds[p.source] == "input":
            p = p.scaled(np.full(p.tgt_shape[0] if isinstance(p, ConvProjection) else layer.size,
                                 input_scale, np.float32))
        projections.append(p)
    maxabs = _row_maxabs(replace(layer, projections=projections)).reshape(layer.shape)
    if layer.kind == "population":
        if getattr(layer.node, "out_scale", None) is not None:
            raise MappingError(f"population %{layer.name} still has an out_scale; compile with fold-out-scale "
                               "in the pipeline before mapping")
        theta = np.asarray(layer.theta, np.float32)
        axes = _group_axes(theta.shape, layer.shape)
        group_max = maxabs.max(axis=axes, keepdims=True) if axes else maxabs
    else:
        theta = None
        group_max = np.full(layer.shape, maxabs.max() if maxabs.size else 0.0, np.float32)
    scale = np.where(group_max > 0, group_max / max_weight, 1.0).astype(np.float64)
    per_row = np.broadcast_to(1.0 / scale, layer.shape).reshape(-1).astype(np.float32)
    projections = [_rounded(_scaled(p, per_row, layer.shape3), max_weight) for p in projections]
    bias = None
    if layer.bias is not None:
        bias = _narrowest(np.round(layer.bias / np.broadcast_to(scale, layer.shape).reshape(-1)).astype(np.float32))
    clipped = 0
    if theta is not None:
        s_theta = scale.reshape(scale.shape) if scale.shape == theta.shape else _reduce_like(scale, theta.shape)
        q = np.maximum(1.0, np.round(theta / s_theta))
        # float32 holds integers exactly up to 2^24: the simulators stay exact below that
        top = min((1 << (profile.state_bits - 1)) - 1, (1 << 23) - 1)
        clipped = int(np.sum(q > top))
        theta = np.minimum(q, top).astype(np.float32)
    return replace(layer, projections=projections, bias=bias), theta, clipped


def _reduce_like(scale: np.ndarray, theta_shape: tuple[int, ...]) -> np.ndarray:
    """The per-group scale in theta's broadcast-ready shape (scale is constant within a group)."""
    padded = (1,) * (scale.ndim - len(theta_shape)) + tuple(theta_shape)
    axes = tuple(i for i, t in enumerate(padded) if t == 1 and scale.shape[i] != 1)
    reduced = scale.max(axis=axes, keepdims=True) if axes else scale
    return reduced.reshape(theta_shape)


def to_graph(q: QuantizedNetwork, meta: dict | None = None) -> Graph:
    """The quantized network as a plain IR graph (one conv/dense per projection, summed, plus a per-neuron bias and
    the neuron op), for the whole-graph simulator. Its input expects x' = q.quantize_input(x)."""
    nodes, constants = [], {}
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in q.network.layers:
        shapes[layer.name] = layer.shape
        if layer.kind == "input":
            nodes.append(Input(name=layer.name, type=TensorType(layer.shape)))
            continue
        terms = []
        for i, p in enumerate(layer.projections):
            pname = f"{layer.name}.p{i}"
            if isinstance(p, ConvProjection):
                constants[pname + ".weight"] = p.weight.astype(np.float32)     # the simulator's type
                nodes.append(Conv(name=pname, inputs=(p.source,), type=TensorType(p.tgt_shape),
                                  weight=ConstRef(pname + ".weight"), strides=tuple(p.strides), pads=tuple(p.pads),
                                  dilations=tuple(p.dilations), groups=p.groups))
                if p.tgt_shape != layer.shape:
                    nodes.append(Reshape(name=pname + ".r", inputs=(pname,), type=TensorType(layer.shape),
                                         shape=layer.shape))
                    pname += ".r"
            else:
                src = p.source
                if len(shapes[src]) != 1:
                    nodes.append(Flatten(name=pname + ".flat", inputs=(src,),
                                         type=TensorType((int(np.prod(shapes[src])),))))
                    src = pname + ".flat"
                constants[pname + ".weight"] = p.matrix.to_dense()
                nodes.append(Dense(name=pname, inputs=(src,), type=TensorType((layer.size,)),
                                   weight=ConstRef(pname + ".weight")))
                if len(layer.shape) != 1:
                    nodes.append(Reshape(name=pname + ".r", inputs=(pname,), type=TensorType(layer.shape),
                                         shape=layer.shape))
                    pname += ".r"
            terms.append(pname)
        current = terms[0]
        if len(terms) > 1:
            current = f"{layer.name}.sum"
            nodes.append(Add(name=current, inputs=tuple(terms), type=TensorType(layer.shape),
                             coeffs=(1.0,) * len(terms)))
        if layer.bias is not None:
            constants[layer.name + ".bias"] = layer.bias.reshape(layer.shape).astype(np.float32)
            shifted = layer.name + ".biased" if layer.kind == "population" else layer.name
            nodes.append(Affine(name=shifted, inputs=(current,), type=TensorType(layer.shape),
                                shift=ConstRef(layer.name + ".bias")))
            current = shifted
        if layer.kind == "population":
            constants[layer.name + ".theta"] = q.thetas[layer.name]
            if layer.op == "signed_neuron":     # theta_n and v0 are fractions of theta: unchanged by the scale
                nodes.append(SignedNeuron(name=layer.name, inputs=(current,), type=TensorType(layer.shape),
                                          theta=ConstRef(layer.name + ".theta"), timesteps=int(layer.node.timesteps),
                                          v0=float(layer.node.v0), theta_n=layer.node.theta_n))
            else:
                nodes.append(IFNeuron(name=layer.name, inputs=(current,), type=TensorType(layer.shape),
                                      theta=ConstRef(layer.name + ".theta"), v0=float(layer.node.v0)))
        elif current != layer.name:
            nodes.append(Affine(name=layer.name, inputs=(current,), type=TensorType(layer.shape)))
    outputs = [l.name for l in q.network.layers if l.kind == "readout"] or \
              [q.network.layers[-1].name]
    info = dict(meta or {})
    info["coremap_input_scale"] = repr(q.input_scale)
    info["coremap_weight_bits"] = str(q.weight_bits)
    return Graph.build(nodes, outputs, constants, info)


def weight_quantized_graph(graph: Graph, profile: Profile, calibration: np.ndarray | None) -> tuple[Graph, float]:
    """For codings without an integer model here (phase, bits, AMOS): the compiled graph with every conv and dense
    weight rounded to `profile.weight_bits` with one scale per output channel (s = max |W_o| / (2^(b-1) - 1),
    W' = s round(W / s)), thresholds and neuron parameters unchanged, and the input step s_x of the 8-bit grid
    (x' = s_x round(x / s_x), from the calibration maximum). It shows the accuracy that the weight precision costs;
    the integer thresholds of the rate and signed path (`quantize`) are not modelled."""
    max_weight = (1 << (profile.weight_bits - 1)) - 1
    constants = dict(graph.constants)
    for node in graph.nodes:
        if node.op not in ("conv", "dense") or node.weight not in constants:
            continue
        w = np.asarray(constants[node.weight], np.float64)
        rows = w.reshape(w.shape[0], -1)
        scale = np.abs(rows).max(axis=1) / max_weight
        scale[scale == 0] = 1.0
        q = np.round(rows / scale[:, None]) * scale[:, None]
        constants[node.weight] = q.reshape(w.shape).astype(np.float32)
    peak = float(np.max(np.abs(calibration))) if calibration is not None and len(calibration) else 1.0
    signed = calibration is None or not len(calibration) or bool(np.min(calibration) < 0)
    levels = 2 ** (INPUT_BITS - 1) - 1 if signed else 2 ** INPUT_BITS - 1
    step = peak / levels if peak > 0 else 1.0
    info = dict(graph.meta)
    info["coremap_weight_bits"] = str(profile.weight_bits)
    return Graph.build(list(graph.nodes), list(graph.outputs), constants, info), step
