"""fold-bn: fold BatchNormalization into the Conv/Dense before it."""

from __future__ import annotations

from snncc.ir import Affine, BatchNorm, Conv, Dense
from snncc.passes.fold_affine import fold_output_affine
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit


def _foldable(producer, consumers, graph) -> str | None:
    """None when BN can fold into `producer`, else the reason it cannot."""
    if not isinstance(producer, (Conv, Dense)):
        return f"its input comes from {producer.op}, not conv/dense"
    if isinstance(producer, Dense) and len(producer.type.shape) != 1:
        return "the dense layer's output channels are not the BN channels"
    if len(consumers[producer.name]) != 1 or producer.name in graph.outputs:
        return "the conv/dense output is also read elsewhere"
    return None


@register_pass("fold-bn")
def fold_bn(graph, ctx) -> PassResult:
    """Fold a BatchNormalization into the Conv/Dense before it (weights and bias rescaled).

    BN after Conv/Dense, with k = gamma / sqrt(var + eps) per output channel:

        W' = W * k[:, None, ...]      b' = (b - mean) * k + beta

    A BN that cannot fold (input not a conv/dense, or that output read elsewhere) becomes an `affine` node
    y = x * k + (beta - mean * k). Idempotent: a graph without BN is returned unmodified.
    """
    edit = GraphEdit(graph)
    consumers = graph.consumers()
    nodes = graph.node_map()
    for bn in graph.nodes:
        if not isinstance(bn, BatchNorm):
            continue
        k, shift = bn.scale_shift(graph.constants)
        producer = nodes[bn.inputs[0]]
        if _foldable(producer, consumers, graph) is None:
            fold_output_affine(edit, graph, producer, k, shift)
            edit.remove(bn.name, producer.name)
        else:
            view = (-1,) + (1,) * (len(bn.type.shape) - 1)
            edit.replace(Affine(name=bn.name, inputs=bn.inputs, type=bn.type,
                                scale=edit.constant(f"{bn.name}.scale", k.reshape(view)),
                                shift=edit.constant(f"{bn.name}.shift", shift.reshape(view))))
    return PassResult(edit.apply(), edit.modified)
