"""Constant folding of an ONNX model with onnxscript's folder, run only when it could change the model.

onnxscript (with onnx_ir and sympy) is 45-60 MB of resident memory once imported, half the weights of a ResNet-50;
most exported CNNs have nothing it folds. The folder changes a model only through

- a node whose inputs are all constants (initializers, Constant outputs; a node without inputs), evaluated; or
- a partial evaluator registered for the node's op (`FOLDER_OPS`: Shape -> Gather -> Concat chains, Identity,
  Dropout, Cast, Reshape, ...). The two others it has, Add and Abs, act only on values whose "shape value" is known,
  which is a constant int64 vector (so the node's inputs are all constants) or the output of one of `FOLDER_OPS`.

A model with neither (and without functions or subgraphs, which the folder visits too) is returned unfolded
without importing onnxscript. `tests/frontend/test_constant_folding.py` fails when onnxscript registers an
evaluator this list lacks.
"""

from __future__ import annotations

import onnx

from snncc.errors import ResourceLimitError

# onnxscript 0.7's partial evaluators (ai.onnx domain), less Add and Abs (see above)
FOLDER_OPS = frozenset({
    "Cast", "CastLike", "Concat", "ConcatFromSequence", "Dropout", "Expand", "Gather", "Identity", "If", "Reshape",
    "SequenceAt", "SequenceConstruct", "Shape", "Size", "SplitToSequence", "Squeeze"})
# Ops never evaluated while folding: a loop or scan runs as long as its constant trip count says (10^12 in a 1 KB
# model), and nothing snncc converts needs one folded.
NEVER_FOLD = frozenset({"Loop", "Scan", "If", "SequenceMap"})


def may_fold(model: onnx.ModelProto) -> bool:
    """Whether onnxscript's folder could change `model` (False only when it certainly would not)."""
    graph = model.graph
    if model.functions:
        return True
    constant = {t.name for t in graph.initializer} | {""}
    for node in graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            return True
        if node.op_type == "Constant":
            constant.update(node.output)
            continue
        if node.domain in ("", "ai.onnx") and node.op_type in FOLDER_OPS:
            return True
        if all(i in constant for i in node.input):
            return True
    return False


def fold_constants(model: onnx.ModelProto) -> bool:
    """Fold constant subgraphs of `model` in place (onnxscript), when `may_fold`; a failure of the folder leaves
    the model as it is (folding is an optimisation: conversion reports what stays unsupported). Whether the
    folder ran (if not, the model is unchanged)."""
    if not may_fold(model):
        return False
    try:
        import onnxscript.optimizer

        # folds Shape -> Gather -> Concat -> Reshape chains and other constant subgraphs
        onnxscript.optimizer.fold_constants(model, should_fold=_foldable)
    except (ResourceLimitError, KeyboardInterrupt):
        raise
    except Exception:  # noqa: BLE001
        pass
    return True


def _foldable(node) -> bool | None:
    """onnxscript's folding hook: False vetoes a node, None leaves the decision (and its size limits) to it."""
    return False if node.op_type in NEVER_FOLD else None
