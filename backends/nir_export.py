"""Export a rate-coded graph to NIR (the Neuromorphic Intermediate Representation, `nir` package, HDF5).

NIR's primitives are continuous-time equations; a discrete-time reader integrates them with Euler steps of dt = 1
and, within one step, evaluates nodes in edge order, summing every edge into a node (nirtorch, Spyx and the reference
simulator in tests/nir do this). An edge that closes a cycle carries the value of the previous step (zero at the
first step). Under those conventions the export is exact:

| snncc op (after the rate pipeline) | NIR nodes |
|---|---|
| input | Input |
| dense (axis -1, vector input) | Affine(W, b) (Linear(W) without bias) |
| dense on a (nodes, features) value (graph layer) | Flatten, then Affine(kron(I, W, I)) on the C-order vector |
| conv (symmetric pads) | Conv2d(W, b, stride, padding, dilation), groups expanded to a block-diagonal W |
| avg_pool, global_avg_pool | Conv2d with weights 1/(kh kw) on the channel diagonal (portable; few readers have AvgPool2d) |
| flatten, reshape to a vector | Flatten(start_dim=0) (NIR shapes exclude the batch axis) |
| affine{scale} | Scale |
| affine{scale, shift} | folded into the dense layer before it (bias), else Affine(diag) / per-channel 1x1 Conv2d |
| add{coeffs} | Scale(coeff) per input where coeff != 1, summed into a Scale(1) junction |
| if_neuron{theta, v0, out_scale} | I(r=1) -> Threshold(theta (1 - v0), strict) -> Scale(-theta) -> back into I; Scale(out_scale) |
| graph output | Output |

Soft reset (reset by subtraction). snncc's IF neuron is
    v(t) = v(t-1) + I(t);  s(t) = [v(t) >= theta];  v(t) <- v(t) - theta s(t);  v(0) = v0 theta.
NIR's IF resets *to* v_reset, which is not this (it costs ~8 points of accuracy on a digits CNN). Written with the
pre-reset potential u(t) = v(t-1) + I(t), soft reset is u(t) = u(t-1) + I(t) - theta s(t-1): an integrator
(NIR `I`, dv/dt = R I with R = 1) whose input is the synaptic current plus the previous step's spikes weighted
-theta, which is exactly the recurrent edge Threshold -> Scale(-theta) -> I. NIR has no initial state; starting the
integrator at 0 instead of v0 theta shifts the comparison: u >= theta  <=>  u - v0 theta >= theta (1 - v0), so the
Threshold node holds theta (1 - v0). NIR's Threshold is strict (z = 1 where v > threshold) while snncc fires at
v >= theta, so the stored threshold is the next float32 below theta (1 - v0): for float32 v, v > nextbelow(c) <=> v >= c.

What NIR cannot express (the export fails and says so): phase coding (time-varying thresholds/weights, a phase
clock), AMOS/few-spike windows (per-step threshold, spike height and reset), signed or graded spikes (Threshold is
Heaviside {0, 1}), membrane initial states beyond the threshold shift above, MaxPool (lower it first: the rate
pipeline's maxpool-to-relu-tree does), BatchNorm (fold it), concat, mul, and a convolution after a graph layer (NIR
has no reshape back from a vector). A graph output of rank > 1 after a graph layer is written flattened (C order);
the graph metadata `<output>.shape` records its shape.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

import numpy as np

from snncc.errors import UnsupportedModelError
from snncc.ir import Graph
from snncc.ir.atomic_write import atomic_write

FORMAT_NOTE = "snncc rate export: Euler dt=1; an edge closing a cycle carries the previous step's value"

# Why NIR cannot carry each non-rate coding (what is missing), for the error message.
CODING_GAPS = {
    "phase": "phase coding needs a threshold and weights that change with the phase of a K-step clock; NIR nodes have "
             "constant parameters and no clock",
    "amos": "AMOS / few-spike neurons need a per-step threshold T(t), spike height h(t) and reset d(t) over a window "
            "of K steps with graded outputs; NIR's Threshold is a fixed Heaviside step",
    "bits": "bit (binary-weighted) coding needs spikes whose weight doubles or halves every step (a time-varying "
            "weight or a step-indexed payload); NIR synapses are constant and spikes carry no payload",
    "ttfs": "time-to-first-spike coding needs a neuron that fires at most once per inference (no refractory or "
            "one-shot state in NIR's IF/LIF), a drive that starts at its layer's window (a time-dependent bias; NIR "
            "biases are constant) and synapses that integrate only during the previous layer's window (a gated "
            "linear PSP; CubaLIF's current never stops), and max pooling by the earliest spike (NIR has no MaxPool)",
    "signed": "signed spikes need a negative threshold and -1 spikes (and an initial membrane state); NIR's Threshold "
              "emits only {0, 1} and no node has an initial-state field",
}

# ANN ops that a coding's pipeline removes: what to do about them.
NOT_LOWERED = {
    "relu": "a ReLU that was not lowered to IF neurons; compile with --coding rate",
    "bounded_relu": "a ReLU that was not lowered to IF neurons; compile with --coding rate",
    "clip": "a Clip that was not lowered to IF neurons; compile with --coding rate",
    "qcfs": "a QCFS activation that was not lowered to IF neurons; compile with --coding rate",
    "max_pool": "NIR has no MaxPool; the rate pipeline's maxpool-to-relu-tree pass lowers it to IF neurons",
    "batch_norm": "NIR has no BatchNorm; the rate pipeline's fold-bn pass folds it into the convolution",
    "concat": "NIR has no Concat node",
    "mul": "NIR has no product of two signals",
    "transpose": "NIR has no Transpose node (a permutation of axes); drop it from the model or keep it out of the "
                 "exported part",
}


class NirExportError(UnsupportedModelError):
    """The graph uses something NIR cannot express; the message lists every offending node and what is missing."""


@dataclass
class _Builder:
    nodes: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)
    source: dict = field(default_factory=dict)   # IR value name -> NIR node whose output is that value
    flat: set = field(default_factory=set)       # IR values of rank > 1 carried flattened (C order) in NIR

    def add(self, name: str, node) -> str:
        if name in self.nodes:
            raise NirExportError(f"two NIR nodes would be named {name!r}; rename the IR node")
        self.nodes[name] = node
        return name

    def edge(self, src: str, dst: str) -> None:
        self.edges.append((src, dst))

    def shape(self, value: str, types) -> tuple[int, ...]:
        """The NIR shape of an IR value: its own, or (size,) when it is carried flattened."""
        return (types[value].size,) if value in self.flat else types[value].shape

    def flattened(self, value: str, types, nir) -> str:
        """A NIR node giving `value` flattened to a vector (adds a Flatten the first time)."""
        if value in self.flat or len(types[value].shape) == 1:
            return self.source[value]
        name = f"{value}.flat"
        if name not in self.nodes:
            self.add(name, nir.Flatten(input_type={"input": np.array(types[value].shape)}, start_dim=0, end_dim=-1))
            self.edge(self.source[value], name)
        return name

    def elementwise_inputs(self, node, types, nir) -> tuple[list[str], tuple[int, ...]]:
        """Sources of an elementwise node's inputs and the NIR shape of its output: flattened when any input is."""
        if any(i in self.flat for i in node.inputs):
            self.flat.add(node.name)
            return [self.flattened(i, types, nir) for i in node.inputs], (node.type.size,)
        return [self.source[i] for i in node.inputs], node.type.shape


def _full(array, shape) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(array, np.float32), shape), dtype=np.float32)


def _strict_threshold(theta: np.ndarray, v0: float, shape) -> np.ndarray:
    """The next float32 below theta (1 - v0): `v > result` is `v >= theta (1 - v0)` for float32 v."""
    start = (_full(theta, shape) * np.float32(1.0 - v0)).astype(np.float32)
    return np.nextafter(start, np.float32(-np.inf)).astype(np.float32)


def _conv_padding(node) -> tuple[int, int]:
    top, left, bottom, right = node.pads
    if top != bottom or left != right:
        raise NirExportError(f"node %{node.name} ({node.op}) has asymmetric padding {list(node.pads)}; NIR's "
                             "Conv2d pads symmetrically")
    return int(top), int(left)


def check_exportable(graph: Graph) -> None:
    """Raise NirExportError naming every node (and the coding) NIR cannot express."""
    import nir  # noqa: F401  (a missing optional dependency is reported before any work)

    coding = graph.meta.get("coding", "rate")
    if coding in CODING_GAPS:
        raise NirExportError(f"NIR cannot express the {coding} coding: {CODING_GAPS[coding]}. NIR export covers the "
                             "rate coding (compile with --coding rate)")
    if coding != "rate":
        raise NirExportError(f"NIR export covers the rate coding only; this graph was compiled with --coding {coding}")
    problems = []
    for node in graph.nodes:
        reason = None
        if node.op in NOT_LOWERED:
            reason = NOT_LOWERED[node.op]
        elif node.spiking and node.op != "if_neuron":
            reason = f"NIR has no primitive for the {node.op} neuron"
        elif node.op not in _EXPORTERS:
            reason = f"NIR has no primitive for {node.op}"
        if reason:
            problems.append(f"%{node.name} ({node.op}): {reason}")
    if problems:
        raise NirExportError("cannot export to NIR:\n  " + "\n  ".join(problems))


def to_nir(graph: Graph):
    """The NIR graph (`nir.NIRGraph`) of a rate-coded snncc graph; NirExportError when NIR cannot express it."""
    import nir

    check_exportable(graph)
    b = _Builder()
    types = {n.name: n.type for n in graph.nodes}
    for node in graph.nodes:
        _EXPORTERS[node.op](nir, b, node, graph, types)
    out_names = ["output"] if len(graph.outputs) == 1 and "output" not in b.nodes else \
        [f"output.{o}" for o in graph.outputs]
    metadata = {"producer": "snncc", "coding": "rate", "dt": 1.0, "reset": "subtract (recurrent Scale(-theta))",
                "conventions": FORMAT_NOTE}
    for name, value in zip(out_names, graph.outputs):
        b.add(name, nir.Output(output_type={"output": np.array(b.shape(value, types))}))
        b.edge(b.source[value], name)
        if value in b.flat:
            metadata[f"{name}.shape"] = np.array(types[value].shape)   # the reader unflattens (C order)
    for key in ("pipeline", "timesteps", "source_sha256"):
        if key in graph.meta:
            metadata[key] = graph.meta[key]
    return nir.NIRGraph(nodes=b.nodes, edges=b.edges, metadata=metadata, type_check=False)


def export_nir(graph: Graph, path: str | os.PathLike) -> None:
    """Write `graph` as a NIR HDF5 file at `path` (atomically)."""
    import nir

    nir_graph = to_nir(graph)
    buffer = io.BytesIO()
    nir.write(buffer, nir_graph)
    atomic_write(path, buffer.getvalue())


# -- one exporter per IR op: (nir module, builder, node, graph, types) -> registers NIR nodes and b.source[name] --

def _input(nir, b, node, graph, types):
    b.source[node.name] = b.add(node.name, nir.Input(input_type={"input": np.array(node.type.shape)}))


def _dense(nir, b, node, graph, types):
    """A dense layer on a vector is an Affine. On a rank > 1 value (a graph layer: axis -1 mixes features, axis -2
    mixes nodes) NIR's Affine still needs vectors: the value is carried flattened (C order) and contracting axis a
    of shape (pre..., n, post...) with W is the matrix kron(I_pre, W, I_post)."""
    w = np.asarray(graph.constants[node.weight], np.float32)
    in_shape = types[node.inputs[0]].shape
    src = b.source[node.inputs[0]]
    if len(in_shape) > 1:
        axis = node.axis % len(in_shape)
        pre, post = int(np.prod(in_shape[:axis])), int(np.prod(in_shape[axis + 1:]))
        w = np.kron(np.kron(np.eye(pre, dtype=np.float32), w), np.eye(post, dtype=np.float32)).astype(np.float32)
        src = b.flattened(node.inputs[0], types, nir)
        b.flat.add(node.name)
    if node.bias is None:
        nir_node = nir.Linear(weight=w.copy())
    else:
        nir_node = nir.Affine(weight=w.copy(), bias=_full(graph.constants[node.bias], node.type.shape).reshape(-1))
    b.source[node.name] = b.add(node.name, nir_node)
    b.edge(src, node.name)


def ungrouped(weight: np.ndarray, groups: int) -> np.ndarray:
    """The (O, C, kh, kw) weight of a plain convolution equal to a grouped one: block-diagonal over the groups."""
    o, cg, kh, kw = weight.shape
    if groups == 1:
        return weight
    full = np.zeros((o, cg * groups, kh, kw), np.float32)
    og = o // groups
    for g in range(groups):
        full[g * og:(g + 1) * og, g * cg:(g + 1) * cg] = weight[g * og:(g + 1) * og]
    return full


def _conv2d(nir, b, node, weight, bias, input_shape, stride, padding, dilation, groups):
    # nir 1.0.8 infers a Conv2d's input type as weight.shape[1] channels, so `nir.read` rejects a grouped conv
    # (and readers differ on groups): export the equivalent block-diagonal plain convolution instead
    if node.inputs[0] in b.flat:
        raise NirExportError(f"node %{node.name} ({node.op}) reads %{node.inputs[0]}, which a dense layer along one "
                             "axis (a graph layer, or a Resize/Slice/Split/Pad/ConvTranspose of an image) carries "
                             "flattened; NIR has no reshape back to (C, H, W)")
    nir_node = nir.Conv2d(input_shape=tuple(int(d) for d in input_shape[1:]), weight=ungrouped(weight, int(groups)),
                          stride=tuple(int(s) for s in stride), padding=padding,
                          dilation=tuple(int(d) for d in dilation), groups=1, bias=bias)
    b.source[node.name] = b.add(node.name, nir_node)
    b.edge(b.source[node.inputs[0]], node.name)


def _conv(nir, b, node, graph, types):
    w = np.asarray(graph.constants[node.weight], np.float32).copy()
    # conv bias is one value per output channel (C,), like ONNX's
    bias = (np.zeros(w.shape[0], np.float32) if node.bias is None
            else np.asarray(graph.constants[node.bias], np.float32).reshape(-1).copy())
    _conv2d(nir, b, node, w, bias, types[node.inputs[0]].shape, node.strides, _conv_padding(node), node.dilations,
            node.groups)


def _pool_as_conv(nir, b, node, types, kernel, strides, padding):
    c = types[node.inputs[0]].shape[0]
    kh, kw = kernel
    w = np.full((c, 1, kh, kw), 1.0 / (kh * kw), np.float32)
    _conv2d(nir, b, node, w, np.zeros(c, np.float32), types[node.inputs[0]].shape, strides, padding, (1, 1), c)


def _avg_pool(nir, b, node, graph, types):
    padding = _conv_padding(node)
    if any(padding) and not node.count_include_pad:
        raise NirExportError(f"node %{node.name} (avg_pool) pads without counting the padding; NIR pooling and "
                             "convolution divide by the full window")
    _pool_as_conv(nir, b, node, types, node.kernel, node.strides, padding)


def _global_avg_pool(nir, b, node, graph, types):
    _, h, w = types[node.inputs[0]].shape
    _pool_as_conv(nir, b, node, types, (h, w), (1, 1), (0, 0))


def _flatten(nir, b, node, graph, types):
    in_shape = types[node.inputs[0]].shape
    if node.inputs[0] in b.flat:   # already a C-order vector: flatten and reshape are no-ops on it
        b.source[node.name] = b.source[node.inputs[0]]
        if len(node.type.shape) > 1:
            b.flat.add(node.name)
        return
    if len(node.type.shape) != 1:
        if node.type.shape == in_shape:  # a no-op reshape
            b.source[node.name] = b.source[node.inputs[0]]
            return
        raise NirExportError(f"node %{node.name} (reshape) reshapes {types[node.inputs[0]]} to {node.type}; NIR "
                             "has Flatten only")
    if len(in_shape) == 1:
        b.source[node.name] = b.source[node.inputs[0]]
        return
    b.source[node.name] = b.add(node.name, nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0,
                                                       end_dim=-1))
    b.edge(b.source[node.inputs[0]], node.name)


def _affine(nir, b, node, graph, types):
    """affine{scale} is a Scale. With a shift (a bias added after a bias-less layer, e.g. a GCN's A H W + b): folded
    into the dense layer that produces it when that layer has no other reader (W' = diag(s) W, b' = s b + shift),
    else an Affine(diag(s), shift) on a vector or a 1x1 Conv2d on an image with per-channel parameters."""
    (src,), shape = b.elementwise_inputs(node, types, nir)
    scale = _full(1.0 if node.scale is None else graph.constants[node.scale], node.type.shape).reshape(shape)
    if node.shift is None:
        b.source[node.name] = b.add(node.name, nir.Scale(scale=scale))
        b.edge(src, node.name)
        return
    shift = _full(graph.constants[node.shift], node.type.shape).reshape(shape)
    producer = graph.node_map()[node.inputs[0]]
    readers = [n for n in graph.nodes if node.inputs[0] in n.inputs]
    layer = b.nodes.get(src)
    if (producer.op == "dense" and src == producer.name and len(readers) == 1 and producer.name not in graph.outputs
            and isinstance(layer, (nir.Affine, nir.Linear))):
        bias = layer.bias if isinstance(layer, nir.Affine) else np.zeros(layer.weight.shape[0], np.float32)
        weight = layer.weight if node.scale is None else (scale[:, None] * layer.weight).astype(np.float32)
        b.nodes[src] = nir.Affine(weight=weight, bias=(scale * bias + shift).astype(np.float32))
        b.source[node.name] = src
        return
    if len(shape) == 1:
        nir_node = nir.Affine(weight=np.diag(scale).astype(np.float32), bias=shift)
        b.source[node.name] = b.add(node.name, nir_node)
        b.edge(src, node.name)
        return
    per_channel = len(shape) == 3 and all(np.array_equal(np.broadcast_to(a[:, :1, :1], shape), a) for a in (scale, shift))
    if not per_channel:
        raise NirExportError(f"node %{node.name} (affine) adds a shift that varies within a channel of {node.type}; "
                             "NIR can add a bias only per output channel (Conv2d) or per vector element (Affine)")
    c = shape[0]
    weight = scale[:, 0, 0].reshape(c, 1, 1, 1).astype(np.float32)
    _conv2d(nir, b, node, weight, shift[:, 0, 0].copy(), shape, (1, 1), (0, 0), (1, 1), c)


def _add(nir, b, node, graph, types):
    sources, shape = b.elementwise_inputs(node, types, nir)
    junction = b.add(node.name, nir.Scale(scale=np.ones(shape, np.float32)))
    seen = set()
    for k, (value_source, coeff) in enumerate(zip(sources, node.coeffs)):
        src = value_source
        if coeff != 1.0 or src in seen:  # NIR readers merge duplicate edges: route a repeated input through a node
            src = b.add(f"{node.name}.in{k}", nir.Scale(scale=np.full(shape, coeff, np.float32)))
            b.edge(value_source, src)
        seen.add(src)
        b.edge(src, junction)
    b.source[node.name] = junction


def _if_neuron(nir, b, node, graph, types):
    (src,), shape = b.elementwise_inputs(node, types, nir)
    theta = _full(graph.constants[node.theta], node.type.shape).reshape(shape)
    integrator = b.add(f"{node.name}.v", nir.I(r=np.ones(shape, np.float32)))
    spikes = b.add(node.name, nir.Threshold(threshold=_strict_threshold(theta, node.v0, shape)))
    reset = b.add(f"{node.name}.reset", nir.Scale(scale=-theta))
    b.edge(src, integrator)
    b.edge(integrator, spikes)
    b.edge(spikes, reset)
    b.edge(reset, integrator)
    b.source[node.name] = spikes
    if node.out_scale is not None:
        out_scale = _full(graph.constants[node.out_scale], node.type.shape).reshape(shape)
        out = b.add(f"{node.name}.out", nir.Scale(scale=out_scale))
        b.edge(spikes, out)
        b.source[node.name] = out


_EXPORTERS = {
    "input": _input,
    "dense": _dense,
    "conv": _conv,
    "avg_pool": _avg_pool,
    "global_avg_pool": _global_avg_pool,
    "flatten": _flatten,
    "reshape": _flatten,
    "affine": _affine,
    "add": _add,
    "if_neuron": _if_neuron,
}
