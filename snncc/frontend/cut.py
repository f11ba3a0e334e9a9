"""Cutting a model at named tensors (`--outputs`): the network before its post-processing.

Detectors exported whole end in box decoding: YOLOv8's distribution focal loss head takes a Softmax over 16 bins and
their expectation, then adds anchor grids and multiplies by strides; others end in TopK or NonMaxSuppression. None of
it is a layer a spiking network computes, and none of it needs to be: the raw head maps carry all the information,
and the user's own code decodes them. `cut_outputs` makes the named tensors the graph's outputs and drops every node
they do not depend on; `post_processing_cut` proposes the cut for a blocking node: walking up from it through the
ops that only reshape (and then, if that is not enough, also concatenate) to the tensors the network computed.
"""

from __future__ import annotations

import difflib

import onnx

from snncc.errors import OptionError
from snncc.frontend.convert import live_nodes

RESHAPING = frozenset({"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Split", "Slice", "Identity",
                       "Cast", "Softmax", "LogSoftmax"})


def parse_outputs(text: str | None) -> tuple[str, ...]:
    """`"a,b"` -> ("a", "b"); None or "" -> ()."""
    names = tuple(n.strip() for n in (text or "").split(",") if n.strip())
    if len(set(names)) != len(names):
        raise OptionError(f"--outputs {text!r} names a tensor twice")
    return names


def cut_outputs(model: onnx.ModelProto, names: tuple[str, ...], where: str = "model") -> onnx.ModelProto:
    """A copy of the shape-inferred `model` whose outputs are the tensors `names` (in that order) and whose nodes are
    those they depend on. OptionError for a name the graph does not compute, with the closest names it does."""
    if not names:
        return model
    infos = {vi.name: vi for vi in (*model.graph.value_info, *model.graph.output)}
    produced = {out for node in model.graph.node for out in node.output if out}
    for name in names:
        if name not in produced:
            close = difflib.get_close_matches(name, sorted(produced), n=3, cutoff=0.6)
            raise OptionError(f"--outputs names {name!r}, which no node of {where} computes"
                              + (f" (did you mean {', '.join(map(repr, close))}?)" if close else
                                 "; `snncc check MODEL` suggests a cut where post-processing blocks"))
        if name not in infos:
            raise OptionError(f"--outputs {name!r}: its shape is not known after shape inference; cut at a tensor "
                              "before it")
        if not _reads_input_values(model, name):
            raise OptionError(f"--outputs {name!r} is computed from sizes or constants only (shape arithmetic, "
                              "e.g. Shape -> Gather -> Concat), not from the input's values; name a tensor the "
                              "network's layers compute")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.output[:]
    out.graph.output.extend(infos[name] for name in names)
    live = live_nodes(out)
    kept = [node for i, node in enumerate(out.graph.node) if i in live]
    del out.graph.node[:]
    out.graph.node.extend(kept)
    return out


def _reads_input_values(model: onnx.ModelProto, name: str) -> bool:
    """Whether `name` depends on a graph input's values (a Shape node reads only its input's size)."""
    inputs = {vi.name for vi in model.graph.input} - {t.name for t in model.graph.initializer}
    producer = {o: node for node in model.graph.node for o in node.output if o}
    seen, stack = set(), [name]
    while stack:
        value = stack.pop()
        if value in inputs:
            return True
        node = producer.get(value)
        if node is None or value in seen or node.op_type in ("Shape", "Size"):
            continue
        seen.add(value)
        stack.extend(node.input)
    return False


def post_processing_cut(model: onnx.ModelProto, node_name: str, through: frozenset[str] = RESHAPING) -> list[str]:
    """The tensors to cut at so that `node_name` (and the post-processing around it) falls away: walk up from the
    node through the ops in `through`; the inputs of the walked nodes that other nodes compute are the cut, in graph
    order. Empty when the node is unknown or the walk reaches a graph input."""
    nodes = list(model.graph.node)
    producer = {o: i for i, node in enumerate(nodes) for o in node.output if o}
    start = next((i for i, node in enumerate(nodes) if node.name == node_name), None)
    if start is None:
        return []
    inits = {t.name for t in model.graph.initializer}
    walked, stack, cut = set(), [start], set()
    while stack:
        i = stack.pop()
        if i in walked:
            continue
        walked.add(i)
        # the data: a Reshape's shape, a Slice's bounds or a Split's sizes are not what the network computed
        data = nodes[i].input if nodes[i].op_type == "Concat" or i == start else nodes[i].input[:1]
        for name in data:
            if not name or name in inits:
                continue
            j = producer.get(name)
            if j is None:
                return []           # the walk reached a graph input: nothing the network computed is left
            if nodes[j].op_type == "Constant":
                continue
            if nodes[j].op_type in through:
                stack.append(j)
            else:
                cut.add(name)
    order = {o: (i, k) for i, node in enumerate(nodes) for k, o in enumerate(node.output)}
    return sorted(cut, key=order.__getitem__)
