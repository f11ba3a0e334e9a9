"""Add a constant to the input current of one population: into its layer's bias where that layer feeds it alone,
else through an explicit `affine{shift}` (used by calibrate-snn's bias correction)."""

from __future__ import annotations

import numpy as np

from snncc.ir import Affine, Conv, Dense, Graph
from snncc.passes.rewrite import GraphEdit
from snncc.passes.shift_bias import _bias_shape_shift


def shift_current(graph: Graph, name: str, shift: np.ndarray) -> Graph:
    """The graph where population `name` receives I + shift (shift broadcast-ready against its shape):

        conv/dense read by `name` alone:   b' = b + shift   (per output channel)
        affine read by `name` alone:       t' = t + shift
        otherwise:                         affine{shift} inserted before `name`"""
    node = graph.node(name)
    producer = graph.node(node.inputs[0])
    sole = len(graph.consumers()[producer.name]) == 1 and producer.name not in graph.outputs
    shift = np.asarray(shift, np.float32)
    edit = GraphEdit(graph)
    per_bias = _bias_shape_shift(producer, shift) if sole and isinstance(producer, (Conv, Dense)) else None
    if per_bias is not None:
        b = graph.constants[producer.bias] if producer.bias is not None else np.zeros(per_bias.shape, np.float32)
        edit.replace(producer.replace(bias=edit.constant(f"{producer.name}.bias", (b + per_bias).astype(np.float32),
                                                         replacing=producer.bias)))
    elif sole and isinstance(producer, Affine):
        t = graph.constants[producer.shift] if producer.shift is not None else np.float32(0)
        new = np.asarray(t + np.broadcast_to(shift, np.broadcast_shapes(np.shape(t), shift.shape)), np.float32)
        edit.replace(producer.replace(shift=edit.constant(f"{producer.name}.shift", new, replacing=producer.shift)))
    else:
        affine = edit.fresh_name(f"{name}.shift")
        edit.insert_before(name, Affine(name=affine, inputs=node.inputs, type=producer.type,
                                        shift=edit.constant(f"{affine}.shift", shift)))
        edit.replace(node.replace(inputs=(affine,)))
    return edit.apply()
