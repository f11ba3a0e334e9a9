"""The output tail: nodes after the last linear layer that only normalise or reshape the logits.

Exporters end classifiers with `Softmax`/`LogSoftmax` (after an 11 -> 13 version conversion spelled
`Flatten -> Softmax -> Reshape`), often with `Identity`, `Reshape`, `Flatten`, `Squeeze`/`Unsqueeze` or a `Transpose`
that only moves axes of size 1. A normaliser is strictly monotonic along its axis, so dropping it leaves the
argmax along that axis unchanged; the reshapes around it are kept (a Transpose of size-1 axes becomes a reshape).
The dropped nodes are recorded in the graph header (`dropped_tail`) and said by `snncc compile`.

A final elementwise `Sigmoid` (a detector's class scores) is an output normaliser too: the SNN computes the logits
and the sigmoid is applied exactly at readout (`snncc.readout`), instead of a fitted gate circuit whose error makes
close classes tie or swap. Being elementwise, any transpose may follow it. The header lists the graph outputs it
ends (`sigmoid_outputs`, their indices) so that readers re-apply it to exactly those.
"""

from __future__ import annotations

import onnx

AXIS_NORMALISERS = frozenset({"Softmax", "LogSoftmax"})
ELEMENTWISE = frozenset({"Sigmoid"})
NORMALISERS = AXIS_NORMALISERS | ELEMENTWISE
RESHAPES = frozenset({"Identity", "Dropout", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"})


def output_tail(model: onnx.ModelProto) -> set[int]:
    """Indices of the nodes forming a pure normalise/reshape tail in front of a graph output, when the tail holds at
    least one normaliser (otherwise the reshapes convert as usual and nothing is dropped). A tail node's output
    feeds only the next tail node or the graph output."""
    return set().union(*_tail_chains(model).values())


def sigmoid_outputs(model: onnx.ModelProto) -> list[int]:
    """Indices of the graph outputs whose tail ends in a dropped Sigmoid."""
    chains = _tail_chains(model)
    return [i for i, o in enumerate(model.graph.output)
            if any(model.graph.node[n].op_type in ELEMENTWISE for n in chains.get(o.name, ()))]


def _tail_chains(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Graph output -> the node indices of its tail (only outputs that have one; one normaliser per tail)."""
    producers = {out: index for index, node in enumerate(model.graph.node) for out in node.output}
    outputs = {o.name for o in model.graph.output}
    readers: dict[str, int] = {}
    for node in _live_nodes(model, producers, outputs):
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    tails: dict[str, list[int]] = {}
    for out in outputs:
        chain, name = [], out
        while name in producers:
            index = producers[name]
            node = model.graph.node[index]
            if node.op_type not in NORMALISERS | RESHAPES or node.domain not in ("", "ai.onnx"):
                break
            if readers.get(name, 0) != (0 if name == out else 1):
                break
            chain.append(index)
            name = node.input[0]
        if sum(model.graph.node[i].op_type in NORMALISERS for i in chain) == 1:
            tails[out] = chain
    return tails


def _live_nodes(model: onnx.ModelProto, producers: dict[str, int], outputs: set[str]) -> list[onnx.NodeProto]:
    """The nodes some graph output depends on (an optimiser may leave a dead Identity reading an output)."""
    live, stack = set(), [producers[o] for o in outputs if o in producers]
    while stack:
        index = stack.pop()
        if index in live:
            continue
        live.add(index)
        stack.extend(producers[i] for i in model.graph.node[index].input if i in producers)
    return [model.graph.node[i] for i in sorted(live)]


def convert_tail_node(ctx, node: onnx.NodeProto) -> bool:
    """Convert one tail node: a normaliser is aliased to its input (dropped: returns True); a Transpose that only
    moves size-1 axes becomes a reshape, one that reorders axes is refused (the argmax of the reordered output would
    no longer run along the dropped normaliser's axis); the rest convert as usual."""
    from snncc.frontend.converters import CONVERTERS, _inferred_shape, _reshape_to, attrs, fail

    if node.op_type in ELEMENTWISE:
        ctx.alias(node.output[0], ctx.value(node.input[0], node))
        return True
    if node.op_type in AXIS_NORMALISERS:
        x = ctx.value(node.input[0], node)
        rank = 1 + len(ctx.type_of(x).shape)
        axis = int(attrs(node).get("axis", -1 if ctx.opset >= 13 else 1))
        ctx.alias(node.output[0], x)
        ctx.normalised_axis[node.output[0]] = axis + rank if axis < 0 else axis
        return True
    if node.op_type == "Transpose" and not _in_sigmoid_tail(ctx, node):
        x = ctx.value(node.input[0], node)
        full = [-1, *ctx.type_of(x).shape]
        perm = list(attrs(node).get("perm", range(len(full))[::-1]))
        axis = ctx.normalised_axis.get(node.input[0])
        if axis is None and _normalises_last_axis(ctx, node.output[0], len(full)):
            # right before a normaliser of the last axis: the logits change layout (PNet's NCHW -> NHWC, then a
            # Softmax over the channels) and the argmax along that axis is the same with or without the normaliser
            CONVERTERS["Transpose"](ctx, node)
            return False
        if axis is not None and perm[-1] == axis:
            CONVERTERS["Transpose"](ctx, node)     # the normalised axis becomes the last: the argmax runs along it
            ctx.normalised_axis[node.output[0]] = len(full) - 1
            return False
        if [a for a in perm if full[a] != 1] != [a for a in range(len(full)) if full[a] != 1]:
            raise fail(node, f"Transpose{{perm={perm}}} of the output reorders its axes; only a transpose of "
                             "size-1 axes is read as a reshape after a dropped Softmax/LogSoftmax (export the logits "
                             "without it)")
        _reshape_to(ctx, node, x, _inferred_shape(ctx, node.output[0]) or [full[a] for a in perm])
        return False
    CONVERTERS[node.op_type](ctx, node)
    return False


def _in_sigmoid_tail(ctx, node: onnx.NodeProto) -> bool:
    """Whether `node` belongs to a tail whose normaliser is elementwise: any transpose converts as usual there."""
    if ctx.sigmoid_tail_nodes is None:
        chains = _tail_chains(ctx.model).values()
        ctx.sigmoid_tail_nodes = {ctx.model.graph.node[i].output[0] for chain in chains
                                  if any(ctx.model.graph.node[n].op_type in ELEMENTWISE for n in chain)
                                  for i in chain}
    return node.output[0] in ctx.sigmoid_tail_nodes


def _normalises_last_axis(ctx, value: str, rank: int) -> bool:
    """Whether `value` is read by a normaliser (only) whose axis is the last of its `rank` axes."""
    from snncc.frontend.converters import attrs

    readers = [n for n in ctx.model.graph.node if value in n.input]
    if len(readers) != 1 or readers[0].op_type not in NORMALISERS:
        return False
    axis = int(attrs(readers[0]).get("axis", -1 if ctx.opset >= 13 else 1))
    return (axis + rank if axis < 0 else axis) == rank - 1


def describe(node: onnx.NodeProto) -> str:
    return f"{node.op_type} {node.name or node.output[0]!r}"
