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


@register_pass("fold-affine")
def fold_affine(graph, ctx) -> PassResult:
    """y = (W x + b) * s + t with per-output-channel s, t:  W' = s W,  b' = s b + t. Fires only when the conv/dense
    output is read by the affine alone; otherwise the affine stays (it is a linear op the simulator runs)."""
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
        edit.remove(node.name, producer.name)
    return PassResult(edit.apply(), edit.modified)
