"""fold-affine: fold an elementwise affine (x * s + t, from Add/Sub/Mul/Div by constants) into the Conv/Dense
that produces its input."""

from __future__ import annotations

import numpy as np

from snncc.ir import Affine, Conv, Dense
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit


def _per_output_channel(value: np.ndarray | None, producer) -> np.ndarray | None | str:
    """The affine parameter as one value per output channel of `producer`, or a reason string."""
    if value is None:
        return None
    shape = producer.type.shape
    full = np.broadcast_to(value, shape)
    if isinstance(producer, Conv):
        per_channel = full[:, :1, :1]
        return per_channel.reshape(-1) if np.array_equal(np.broadcast_to(per_channel, shape), full) else \
            "the affine varies inside a channel"
    if len(shape) == 1:
        return full.reshape(-1)
    # dense on (nodes, features) along the last axis: the parameter must be the same for every row
    if producer.axis in (-1, len(shape) - 1) and np.array_equal(np.broadcast_to(full[:1], shape), full):
        return full[0].reshape(-1)
    return "the affine does not act per output feature"


def _merge_affines(graph) -> GraphEdit:
    """affine(affine(x; s1, t1); s2, t2) = affine(x; s1 s2, t1 s2 + t2) when the inner one has no other reader."""
    edit = GraphEdit(graph)
    consumers = graph.consumers()
    nodes = graph.node_map()
    merged: set[str] = set()
    for node in graph.nodes:
        inner = nodes.get(node.inputs[0]) if node.inputs else None
        if not isinstance(node, Affine) or not isinstance(inner, Affine) or inner.name in merged \
                or len(consumers[inner.name]) != 1 or inner.name in graph.outputs:
            continue
        one = np.float32(1)
        s1 = graph.constants[inner.scale] if inner.scale else one
        t1 = graph.constants[inner.shift] if inner.shift else np.float32(0)
        s2 = graph.constants[node.scale] if node.scale else one
        t2 = graph.constants[node.shift] if node.shift else np.float32(0)
        edit.replace(Affine(name=node.name, inputs=inner.inputs, type=node.type,
                            scale=edit.constant(f"{node.name}.scale", np.asarray(s1 * s2, np.float32)),
                            shift=edit.constant(f"{node.name}.shift", np.asarray(t1 * s2 + t2, np.float32))))
        edit.remove(inner.name, inner.inputs[0])
        merged.add(node.name)
    return edit


@register_pass("fold-affine")
def fold_affine(graph, ctx) -> PassResult:
    """Chains of affines merge into one; then y = (W x + b) * s + t with per-output-channel s, t folds as
    W' = s W,  b' = s b + t. Fires only when the conv/dense output is read by the affine alone; otherwise the affine
    stays (a linear op the simulator runs). Repeats until nothing changes."""
    modified = False
    for _ in range(1000):
        step = _merge_affines(graph)
        if step.modified:
            graph, modified = step.apply(), True
            continue
        step = _fold_into_producers(graph)
        if not step.modified:
            break
        graph, modified = step.apply(), True
    return PassResult(graph, modified)


def _fold_into_producers(graph) -> GraphEdit:
    edit = GraphEdit(graph)
    consumers = graph.consumers()
    nodes = graph.node_map()
    for node in graph.nodes:
        if not isinstance(node, Affine):
            continue
        producer = nodes[node.inputs[0]]
        if not isinstance(producer, (Conv, Dense)) or len(consumers[producer.name]) != 1 \
                or producer.name in graph.outputs:
            continue
        if isinstance(producer, Dense) and producer.axis not in (-1, len(producer.type.shape) - 1):
            continue
        s = _per_output_channel(graph.constants[node.scale] if node.scale else None, producer)
        t = _per_output_channel(graph.constants[node.shift] if node.shift else None, producer)
        if isinstance(s, str) or isinstance(t, str):
            continue
        fold_output_affine(edit, graph, producer, s, t)
        edit.remove(node.name, producer.name)
    return edit


def fold_output_affine(edit: GraphEdit, graph, producer, s: np.ndarray | None, t: np.ndarray | None) -> None:
    """Replace conv/dense `producer` (y = W x + b) by the one computing y * s + t, s and t one value per output
    channel:  W' = s W,  b' = s b + t."""
    w = graph.constants[producer.weight]
    b = graph.constants[producer.bias] if producer.bias is not None else np.zeros(w.shape[0], np.float32)
    if s is not None:
        w = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
        b = b * s
    if t is not None:
        b = b + t
    edit.replace(producer.replace(
        weight=edit.constant(f"{producer.name}.weight", w, replacing=producer.weight),
        bias=edit.constant(f"{producer.name}.bias", b, replacing=producer.bias)))
