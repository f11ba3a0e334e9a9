"""fold-input-norm: fold input normalisation (x - mean) / std into the first Conv/Dense."""

from __future__ import annotations

import numpy as np

from snncc.ir import Affine, Conv, Dense, Input
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit


@register_pass("fold-input-norm")
def fold_input_norm(graph, ctx) -> PassResult:
    """Fold the input normalisation (x * s + t) into the first Conv/Dense's weights and bias.

    x' = x * s + t on a graph input, read only by a Conv/Dense:

        W'[:, c] = W[:, c] * s_c        b' = b + sum_{c, kernel} W[:, c] * t_c

    Exact for dense layers and unpadded convs with per-channel s, t. A padded conv with t != 0 would see padding
    value 0 instead of the normalised 0 - so that case keeps the affine (the simulator feeds it as current)."""
    edit = GraphEdit(graph)
    consumers = graph.consumers()
    nodes = graph.node_map()
    for node in graph.nodes:
        if not isinstance(node, Affine) or not isinstance(nodes[node.inputs[0]], Input):
            continue
        readers = consumers[node.name]
        if len(readers) != 1 or node.name in graph.outputs or not isinstance(readers[0], (Conv, Dense)):
            continue
        layer = readers[0]
        shape = node.type.shape
        s = np.broadcast_to(graph.constants[node.scale], shape) if node.scale else np.ones(shape, np.float32)
        t = np.broadcast_to(graph.constants[node.shift], shape) if node.shift else np.zeros(shape, np.float32)
        w = graph.constants[layer.weight]
        b = graph.constants[layer.bias] if layer.bias is not None else np.zeros(w.shape[0], np.float32)
        if isinstance(layer, Conv):
            s_c, t_c = s[:, 0, 0], t[:, 0, 0]
            per_channel = np.array_equal(np.broadcast_to(s_c[:, None, None], shape), s) and \
                np.array_equal(np.broadcast_to(t_c[:, None, None], shape), t)
            if not per_channel or layer.groups != 1 or (any(layer.pads) and np.any(t_c != 0)):
                continue
            new_w = w * s_c[None, :, None, None]
            new_b = b + (w * t_c[None, :, None, None]).sum(axis=(1, 2, 3))
        else:
            if len(shape) != 1 or layer.axis not in (-1, 0):
                continue
            new_w = w * s[None, :]
            new_b = b + w @ t
        edit.replace(layer.replace(inputs=(node.inputs[0],),
                                   weight=edit.constant(f"{layer.name}.weight", new_w, replacing=layer.weight),
                                   bias=edit.constant(f"{layer.name}.bias", new_b, replacing=layer.bias)))
        edit.remove(node.name, node.inputs[0])
    return PassResult(edit.apply(), edit.modified)
