"""canonicalize-gcn: a GCN layer exported as two constant MatMuls (and a bias Add) becomes one synaptic layer
`graph_conv` (algorithms.md §4.3, GCN conversion)."""

from __future__ import annotations

import numpy as np

from snncc.ir import Affine, Dense, GraphConv
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit


def _mixes_nodes(node) -> bool:
    return isinstance(node, Dense) and len(node.type.shape) == 2 and node.axis % 2 == 0


def _transforms_features(node) -> bool:
    return isinstance(node, Dense) and len(node.type.shape) == 2 and node.axis % 2 == 1


def _why_not_pair(graph, consumers, first, second) -> str | None:
    """None when `first -> second` is a (feature transform, node mixing) pair in either order that can fuse."""
    if not ((_transforms_features(first) and _mixes_nodes(second)) or
            (_mixes_nodes(first) and _transforms_features(second))):
        return "not a (feature transform, node mixing) pair of dense layers on (nodes, features)"
    if first.name in graph.outputs or len(consumers[first.name]) != 1:
        return f"%{first.name} has other readers"
    return None


def _fused(graph, first, second) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, W, full bias) of second(first(x)); the bias is the pair's output at x = 0, shape (nodes, out)."""
    mix, feat = (second, first) if _mixes_nodes(second) else (first, second)
    a = graph.constants[mix.weight].astype(np.float64)
    w = graph.constants[feat.weight].astype(np.float64)
    zero = np.zeros(graph.node(first.inputs[0]).type.shape)
    for layer in (first, second):
        zero = a @ zero if layer is mix else zero @ w.T
        if layer.bias is not None:
            zero = zero + graph.constants[layer.bias]
    return a.astype(np.float32), w.astype(np.float32), zero.astype(np.float32)


def _compact_bias(full: np.ndarray) -> np.ndarray | None:
    """None for an all-zero bias, (out,) when every node has the same bias, else the full (nodes, out)."""
    if not np.any(full):
        return None
    if np.array_equal(np.broadcast_to(full[:1], full.shape), full):
        return full[0].copy()
    return full


@register_pass("canonicalize-gcn")
def canonicalize_gcn(graph, ctx) -> PassResult:
    """Fuse the feature and node-mixing dense pair of a GCN layer into one graph_conv.

    Fuse dense{axis=-1, W} and dense{axis=-2, A} on (nodes, features), in either order (A (X W^T) = (A X) W^T):

        graph_conv{adjacency=A, weight=W, bias}(x) = A x W^T + b,   b = the pair's output at x = 0

    then fold a following per-feature affine (the exported bias Add, a scale) into it: W' = s W, b' = s b + t.
    Fires only when the intermediate value has no other reader. One synaptic layer lets the simulator count a
    spike's true fan-out (the non-zeros of A[:, j] times those of W[:, f]) and lets a mapper place the layer once."""
    edit = GraphEdit(graph)
    consumers = graph.consumers()
    pairs: dict[str, tuple] = {}          # second layer's name -> (input, A, W, full bias, type)
    taken: set[str] = set()
    for second in graph.nodes:
        if not isinstance(second, Dense) or second.name in taken:
            continue
        first = graph.node(second.inputs[0])
        if first.name in taken or _why_not_pair(graph, consumers, first, second) is not None:
            continue
        feature_weight = (first if _transforms_features(first) else second).weight
        pairs[second.name] = (first.inputs[0],) + _fused(graph, first, second) + (feature_weight,)
        taken.update((first.name, second.name))
        edit.remove(first.name, first.inputs[0])
    for layer in graph.nodes:
        name = layer.inputs[0] if isinstance(layer, Affine) else None
        if name not in pairs or name in graph.outputs or len(consumers[name]) != 1:
            continue
        source, a, w, full, feature_weight = pairs[name]
        shape = full.shape
        s = np.broadcast_to(graph.constants[layer.scale], shape) if layer.scale else np.ones(shape, np.float32)
        t = np.broadcast_to(graph.constants[layer.shift], shape) if layer.shift else np.zeros(shape, np.float32)
        if not np.array_equal(np.broadcast_to(s[:1], shape), s):
            continue   # a scale that differs between nodes does not fold into W
        pairs[name] = (source, a, (w * s[0][:, None]).astype(np.float32), (full * s + t).astype(np.float32),
                       feature_weight)
        edit.remove(layer.name, name)
    adjacencies: dict[bytes, object] = {}        # layers of one graph share one adjacency constant
    for name, (source, a, w, full, feature_weight) in pairs.items():
        key = a.tobytes() + str(a.shape).encode()
        if key not in adjacencies:
            adjacencies[key] = edit.constant(f"{name}.adjacency", a)
        bias = _compact_bias(full)
        edit.replace(GraphConv(name=name, inputs=(source,), type=graph.node(name).type, adjacency=adjacencies[key],
                               weight=edit.constant(f"{name}.weight", w, replacing=feature_weight),
                               bias=None if bias is None else edit.constant(f"{name}.bias", bias)))
    return PassResult(edit.apply(), edit.modified)
