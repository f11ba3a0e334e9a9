"""Structural checks of a graph, run after every pass in tests and by the pass manager."""

from __future__ import annotations

import numpy as np

from snncc.ir.attribute_ranges import attribute_problem
from snncc.ir.graph import Graph
from snncc.ir.node import OP_REGISTRY


class VerifyError(ValueError):
    """The graph is malformed; the message names the node, its op and what is wrong."""


def verify(graph: Graph) -> None:
    """Raise VerifyError unless: every op is registered, names are unique, every input is produced earlier,
    every referenced constant exists and is finite, every attribute is in its legal range (`attribute_ranges`),
    outputs exist and have at least one axis, and each node's type equals its shape rule."""
    types = {}
    for node in graph.nodes:
        where = f"node %{node.name} ({node.op})"
        if OP_REGISTRY.get(node.op) is not type(node):
            raise VerifyError(f"{where}: op is not registered")
        if node.name in types:
            raise VerifyError(f"{where}: a second node has this name; rename one")
        for src in node.inputs:
            if src not in types:
                raise VerifyError(f"{where}: input %{src} is not produced before this node")
        for ref in node.const_refs():
            if ref not in graph.constants:
                raise VerifyError(f"{where}: constant @{ref} is missing")
            value = graph.constants[ref]
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise VerifyError(f"{where}: constant @{ref} holds NaN or Inf")
        problem = attribute_problem(node, graph.constants)
        if problem:
            raise VerifyError(f"{where}: {problem}")
        try:
            inferred = node.infer_type([types[s] for s in node.inputs], graph.constants)
        except (ValueError, KeyError, IndexError) as exc:
            raise VerifyError(f"{where}: {exc}") from None
        if inferred.shape != node.type.shape:
            raise VerifyError(f"{where}: declared type {node.type} but its inputs give {inferred}")
        types[node.name] = node.type
    for out in graph.outputs:
        if out not in types:
            raise VerifyError(f"graph output %{out} is not produced by any node")
        if not types[out].shape:
            raise VerifyError(f"graph output %{out} is a scalar per sample; an output has at least one axis "
                              "(the class scores)")
