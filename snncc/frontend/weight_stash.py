"""Large weights set aside while a model is checked, shape-inferred and constant-folded.

The checker and shape inference serialise the whole model and parse it again, and onnxscript's folder keeps its
own copy: with the weights inside, loading a ResNet-50 peaked at 7x the weights' size. None of these steps reads
the values of a weight that only feeds nodes computed from the model input (a Conv's W, a Gemm's B): they need its
type and shape, which a graph input of the same type and shape gives them. Such weights wait in a stash (one copy,
the original TensorProto) and go back in once the model is prepared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import onnx
from onnx import helper

# Folding never reads inputs larger than this (onnxscript's input size limit is 8192 elements); smaller ones stay.
MIN_STASHED_ELEMENTS = 8192
_FLOAT = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}


@dataclass
class WeightStash:
    """Initializers taken out of a model, by name, in their original order; `inputs`: names that were graph inputs
    already (old exports list initializers as inputs too), which stay inputs when restored."""

    tensors: dict[str, onnx.TensorProto] = field(default_factory=dict)
    inputs: set[str] = field(default_factory=set)


def _dynamic_values(graph: onnx.GraphProto) -> set[str]:
    """Values computed from a (non-initializer) graph input."""
    inits = {t.name for t in graph.initializer}
    dynamic = {vi.name for vi in graph.input if vi.name not in inits}
    for node in graph.node:
        if any(i in dynamic for i in node.input if i):
            dynamic.update(o for o in node.output if o)
    return dynamic


def _copy_except(src, dst, skip: str) -> None:
    """Every set field of protobuf message `src` but `skip` into the empty message `dst`."""
    for fd, value in src.ListFields():
        if fd.name == skip:
            continue
        if fd.is_repeated:
            getattr(dst, fd.name).extend(value)
        elif fd.type == fd.TYPE_MESSAGE:
            getattr(dst, fd.name).CopyFrom(value)
        else:
            setattr(dst, fd.name, value)


def stash_weights(model: onnx.ModelProto) -> tuple[onnx.ModelProto, WeightStash]:
    """A copy of `model` without its large float weights that only feed nodes computed from the input (each one a
    graph input of its type and shape instead), and the stash holding them. `model` itself is not changed."""
    graph = model.graph
    dynamic = _dynamic_values(graph)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    outputs = {o.name for o in graph.output}
    inputs = {vi.name for vi in graph.input}
    stash = WeightStash()
    for t in graph.initializer:
        users = consumers.get(t.name, [])
        size = 1
        for d in t.dims:
            size *= d
        if (size > MIN_STASHED_ELEMENTS and t.data_type in _FLOAT and users and t.name not in outputs
                and all(any(i in dynamic for i in n.input if i) for n in users)):
            stash.tensors[t.name] = onnx.TensorProto()
            stash.tensors[t.name].CopyFrom(t)
            if t.name in inputs:
                stash.inputs.add(t.name)
    light = onnx.ModelProto()
    _copy_except(model, light, "graph")
    _copy_except(graph, light.graph, "initializer")
    light.graph.initializer.extend(t for t in graph.initializer if t.name not in stash.tensors)
    light.graph.input.extend(helper.make_tensor_value_info(name, t.data_type, list(t.dims))
                             for name, t in stash.tensors.items() if name not in stash.inputs)
    return light, stash


def restore_weights(model: onnx.ModelProto, stash: WeightStash) -> None:
    """Put the stashed weights back into `model` (in place) as initializers, emptying the stash as it goes (one
    copy of the weights at a time); the graph inputs that stood for them are removed."""
    kept = [vi for vi in model.graph.input if vi.name not in stash.tensors or vi.name in stash.inputs]
    if len(kept) != len(model.graph.input):
        del model.graph.input[:]
        model.graph.input.extend(kept)
    for name in list(stash.tensors):
        model.graph.initializer.append(stash.tensors.pop(name))
