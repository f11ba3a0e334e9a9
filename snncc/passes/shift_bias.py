"""shift-bias: the BN bias shift of bit-serial coding (algorithms.md §3.2): + Delta/2 on the current feeding each
bit-serial population, so that the neuron's floor equals QCFS's rounding."""

from __future__ import annotations

import numpy as np

from snncc.ir import Affine, Conv, Dense
from snncc.ir.ops_bits import bits_delta
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit

DONE_KEY = "bias_shift"


def _bias_shape_shift(layer, half: np.ndarray) -> np.ndarray | None:
    """Delta/2 as one value per entry of the layer's bias, or None when it does not act per output channel."""
    shape = layer.type.shape
    full = np.broadcast_to(half, shape)
    if isinstance(layer, Conv):
        per = full[:, :1, :1]
        return per.reshape(-1) if np.array_equal(np.broadcast_to(per, shape), full) else None
    if isinstance(layer, Dense):
        # the bias broadcasts against the last axis of the output (features)
        rows = full.reshape(-1, shape[-1])
        return rows[0] if np.array_equal(np.broadcast_to(rows[:1], rows.shape), rows) else None
    return None


@register_pass("shift-bias")
def shift_bias(graph, ctx) -> PassResult:
    """Shift the bias feeding each bits neuron by half a level, so its floor becomes QCFS's rounding.

    For every bits_neuron{theta, timesteps=T} with Delta = theta / (2^T - 1):

        b' = b + Delta/2      on the conv/dense (after fold-bn: the BN bias beta' = beta + Delta/2) that feeds it

    (a layer without bias gets one; an affine producer gets its shift moved). Where the current does not come from
    a conv/dense/affine read by this population alone (a residual Add, a max-pool ReLU tree), an explicit
    `affine{shift=Delta/2}` is inserted. Then floor((z + Delta/2) / Delta) = round(z / Delta), QCFS's rounding.
    Runs once: the header records `bias_shift`, and a second run is a no-op."""
    if graph.meta.get(DONE_KEY):
        return PassResult(graph, False)
    edit = GraphEdit(graph)
    consumers = graph.consumers()
    nodes = graph.node_map()
    changed = {}
    shifted = 0
    for node in graph.nodes:
        if node.op != "bits_neuron":
            continue
        half = (bits_delta(graph.constants[node.theta], node.timesteps) / np.float32(2)).astype(np.float32)
        producer = changed.get(node.inputs[0], nodes[node.inputs[0]])
        sole = len(consumers[producer.name]) == 1 and producer.name not in graph.outputs
        per_bias = _bias_shape_shift(producer, half) if sole and isinstance(producer, (Conv, Dense)) else None
        if per_bias is not None:
            b = graph.constants[producer.bias] if producer.bias is not None else np.zeros(per_bias.shape, np.float32)
            changed[producer.name] = producer.replace(
                bias=edit.constant(f"{producer.name}.bias", (b + per_bias).astype(np.float32), replacing=producer.bias))
        elif sole and isinstance(producer, Affine):
            t = graph.constants[producer.shift] if producer.shift is not None else np.float32(0)
            new = np.asarray(t + np.broadcast_to(half, np.broadcast_shapes(np.shape(t), half.shape)), np.float32)
            changed[producer.name] = producer.replace(
                shift=edit.constant(f"{producer.name}.shift", new, replacing=producer.shift))
        else:
            name = edit.fresh_name(f"{node.name}.bias_shift")
            edit.insert_before(node.name, Affine(name=name, inputs=node.inputs, type=graph.node(node.inputs[0]).type,
                                                 shift=edit.constant(f"{name}.shift", half)))
            changed[node.name] = changed.get(node.name, node).replace(inputs=(name,))
        shifted += 1
    if not shifted:
        return PassResult(graph, False)
    for new in changed.values():
        edit.replace(new)
    result = edit.apply()
    meta = dict(result.meta)
    meta[DONE_KEY] = f"+Delta/2 on {shifted} population(s)"
    return PassResult(result.with_(meta=meta), True)
