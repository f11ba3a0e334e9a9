"""fold-out-scale: push each population's spike scale (out_scale, usually theta) into its consumers' weights so
spikes become unit events (algorithms.md §0)."""

from __future__ import annotations

import numpy as np

from snncc.ir import Affine, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, Reshape
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit


def _spatially_constant(s: np.ndarray) -> bool:
    return s.ndim == 3 and np.array_equal(np.broadcast_to(s[:, :1, :1], s.shape), s)


def _rows_equal(s: np.ndarray) -> bool:
    rows = s.reshape(-1, s.shape[-1])
    return np.array_equal(np.broadcast_to(rows[:1], rows.shape), rows)


def _through(node, s: np.ndarray) -> np.ndarray | None:
    """The scale after a pass-through op (the op commutes with the scaling), or None."""
    if isinstance(node, (AvgPool, GlobalAvgPool)):
        return np.broadcast_to(s[:, :1, :1], node.type.shape) if _spatially_constant(s) else None
    if isinstance(node, (Flatten, Reshape)):
        return s.reshape(node.type.shape)
    if isinstance(node, Dense) and node.axis % s.ndim != s.ndim - 1 and node.bias is None:
        axis = node.axis % s.ndim
        first = np.take(s, [0], axis=axis)
        if np.array_equal(np.broadcast_to(first, s.shape), s):
            return np.broadcast_to(first, node.type.shape)
    return None


def _scaled_weight(layer, w: np.ndarray, s: np.ndarray) -> np.ndarray | None:
    """Weight with input channel/feature i scaled by s_i, or None when s does not fit the layer."""
    if isinstance(layer, Conv):
        if not _spatially_constant(s):
            return None
        cg = w.shape[1]
        per_weight = np.repeat(s[:, 0, 0].reshape(layer.groups, cg), w.shape[0] // layer.groups, axis=0)
        return (w * per_weight[:, :, None, None]).astype(np.float32)
    if isinstance(layer, Dense) and layer.axis % s.ndim == s.ndim - 1 and _rows_equal(s):
        return (w * s.reshape(-1, s.shape[-1])[0][None, :]).astype(np.float32)
    return None


def _plan(graph, consumers, reader, s: np.ndarray, plan: dict) -> bool:
    """Fill plan[layer] = new weight for every conv/dense reached from `reader`; False if any path cannot fold."""
    if isinstance(reader, (Conv, Dense)):
        new = _scaled_weight(reader, graph.constants[reader.weight], s)
        if new is not None:
            plan[reader.name] = new
            return True
    after = _through(reader, s)
    if after is None or reader.name in graph.outputs or not consumers[reader.name]:
        return False
    return all(_plan(graph, consumers, r, after, plan) for r in consumers[reader.name])


@register_pass("fold-out-scale")
def fold_out_scale(graph, ctx) -> PassResult:
    """For a population with out_scale s (scalar or per channel), every consumer path
    `population -> [avg_pool | global_avg_pool | flatten | reshape | node-mixing dense]* -> conv/dense`
    gets W[:, c] *= s_c (after Flatten, the columns of channel block c). A consumer that cannot take it (add,
    concat, mul, a path ending in a graph output) reads the spikes through an explicit synapse `affine{scale=s}`.
    Then out_scale = none. Populations that are graph outputs keep their scale."""
    edit = GraphEdit(graph)
    consumers = graph.consumers()
    replaced = {}
    for node in graph.nodes:
        if not node.spiking or getattr(node, "out_scale", None) is None or node.name in graph.outputs:
            continue
        s = np.broadcast_to(graph.constants[node.out_scale], node.type.shape).astype(np.float32)
        for reader in consumers[node.name]:
            plan: dict[str, np.ndarray] = {}
            if _plan(graph, consumers, reader, s, plan):
                for layer_name, w in plan.items():
                    layer = replaced.get(layer_name, graph.node_map()[layer_name])
                    replaced[layer_name] = layer.replace(
                        weight=edit.constant(f"{layer_name}.weight", w, replacing=layer.weight))
                continue
            name = edit.fresh_name(f"{node.name}.synapse")
            scale = graph.constants[node.out_scale]
            edit.insert_before(reader.name, Affine(name=name, inputs=(node.name,), type=node.type,
                                                   scale=edit.constant(f"{name}.scale", scale)))
            current = replaced.get(reader.name, reader)
            replaced[reader.name] = current.replace(
                inputs=tuple(name if i == node.name else i for i in current.inputs))
        replaced[node.name] = replaced.get(node.name, node).replace(out_scale=None)
    for new in replaced.values():
        edit.replace(new)
    return PassResult(edit.apply(), edit.modified)
