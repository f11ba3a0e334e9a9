"""ONNX export and verification helpers for the bundled models (torch 2.13, onnxscript 0.7).

Two export paths:

* ``export_dynamo``: ``torch.onnx.export(..., dynamo=True, optimize=False)`` at opset 18 (torchlib's native opset)
  followed by our own clean-up (constant folding, reshape/cast clean-up rules, dead-node removal), a rewrite of
  ``ReduceMean`` over H, W to ``GlobalAveragePool`` and a conversion to opset 17. We do not use the exporter's built-in
  ``optimize=True`` because onnxscript's default rewrite rules include ``FuseBatchNormIntoConv/Gemm``, which folds
  every eval-mode BatchNormalization into the preceding Conv; snncc has its own ``fold-bn`` pass and needs test models
  that still contain BN. The result keeps BatchNormalization in inference form (running stats, one output).
  torch's dynamo path writes ``nn.Flatten`` as ``Reshape(x, [-1, n])`` and ``nn.SiLU`` as ``Mul(x, Sigmoid(x))``.
* ``export_legacy``: the deprecated TorchScript exporter (``dynamo=False``); it writes ``nn.Flatten`` as ``Flatten``
  and folds eval-mode BN into Conv, so it is only used for models without BN.

Both write opset 17 with a dynamic batch dimension named ``batch``, input ``input`` and output ``logits``.
"""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import onnx
import onnx_ir as ir
import torch
from onnx_ir.passes import common as common_passes
from onnxscript import optimizer, rewriter
from onnxscript.rewriter.rules import common as rules

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
BATCH_DIM = "batch"

# Shape/cast clean-up only; deliberately no BatchNorm fusion rules.
_CLEANUP_RULES = [
    rules.materialize_reshape_shape_rule,
    rules.reshape_reshape_rule,
    rules.no_op_cast_rule,
    rules.cast_cast_rule,
    rules.no_op_expand_rule,
]


def export_dynamo(model: torch.nn.Module, example: torch.Tensor, path: str) -> onnx.ModelProto:
    """Export ``model`` (eval mode) with the dynamo exporter, keep BN, clean up shape ops, save to ``path``.

    ``example`` must have batch size >= 2: torch.export specialises a size-1 dimension to a constant.
    """
    if example.shape[0] < 2:
        raise ValueError("use an example batch of size >= 2 so that the batch dimension stays dynamic")
    model.eval()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" etc.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # torchlib's native opset is 18; exporting at 18 and converting after constant folding avoids the
        # exporter's own 18 -> 17 conversion, which fails on ReduceMean whose axes are not yet constants.
        program = torch.onnx.export(
            model,
            (example,),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=18,
            dynamic_shapes=({0: torch.export.Dim(BATCH_DIM)},),
            dynamo=True,
            optimize=False,
            verbose=False,
        )
    m = program.model
    for _ in range(2):
        optimizer.fold_constants(m)
        m = rewriter.rewrite(m, _CLEANUP_RULES)
    # No DeduplicateInitializersPass: it merges tensors by value, e.g. a fresh BN's running_mean with its bias.
    for p in (
        common_passes.RemoveUnusedNodesPass(),
        common_passes.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0),
        common_passes.CommonSubexpressionEliminationPass(),
        common_passes.NameFixPass(),
        common_passes.TopologicalSortPass(),
    ):
        p(m)
    proto = ir.serde.serialize_model(m)
    proto = reduce_mean_to_global_average_pool(proto)
    if OPSET != 18:
        proto = onnx.version_converter.convert_version(proto, OPSET)
    _save(proto, path)
    return proto


def reduce_mean_to_global_average_pool(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite ``ReduceMean(x, axes={2,3} or {-2,-1}, keepdims=1)`` on a rank-4 ``x`` to ``GlobalAveragePool(x)``.

    torch's dynamo path lowers ``nn.AdaptiveAvgPool2d(1)`` to ReduceMean; GlobalAveragePool is the same maths
    (mean over H and W, keeping them as size-1 dims) and is what the TorchScript exporter and most model zoos emit.
    """
    inferred = onnx.shape_inference.infer_shapes(proto)
    ranks = {vi.name: len(vi.type.tensor_type.shape.dim) for vi in
             [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]}  # fmt: skip
    inits = {t.name: t for t in proto.graph.initializer}
    nodes = []
    for n in proto.graph.node:
        keepdims = next((a.i for a in n.attribute if a.name == "keepdims"), 1)
        if (n.op_type == "ReduceMean" and n.domain in ("", "ai.onnx") and len(n.input) == 2 and n.input[1] in inits
                and keepdims == 1 and ranks.get(n.input[0]) == 4
                and {int(v) % 4 for v in onnx.numpy_helper.to_array(inits[n.input[1]])} == {2, 3}):  # fmt: skip
            gap = onnx.helper.make_node("GlobalAveragePool", [n.input[0]], list(n.output), name=n.name)
            gap.metadata_props.extend(n.metadata_props)
            nodes.append(gap)
        else:
            nodes.append(n)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    used = {i for n in proto.graph.node for i in n.input}
    keep = [t for t in proto.graph.initializer if t.name in used]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    return proto


def export_legacy(model: torch.nn.Module, example: torch.Tensor, path: str) -> onnx.ModelProto:
    """Export ``model`` (eval mode) with the TorchScript exporter (BN gets folded; use for BN-free models)."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            path,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=OPSET,
            dynamic_axes={INPUT_NAME: {0: BATCH_DIM}, OUTPUT_NAME: {0: BATCH_DIM}},
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load(path)
    _save(proto, path)
    return proto


def _save(proto: onnx.ModelProto, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    onnx.save_model(proto, path)  # single file; the models are far below the 2 GB external-data limit


def op_types(proto: onnx.ModelProto) -> list[str]:
    """Distinct op types of the main graph, in order of first appearance."""
    seen: list[str] = []
    for n in proto.graph.node:
        if n.op_type not in seen:
            seen.append(n.op_type)
    return seen


def n_params(model: torch.nn.Module) -> int:
    """Number of trainable parameters of a torch model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def ort_logits(path: str, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Run the ONNX file at ``path`` with onnxruntime on ``x`` in batches and return the logits."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {INPUT_NAME: x[i : i + batch]})[0] for i in range(0, len(x), batch)])


def verify(path: str, model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch_sizes=(1, 7),
           mask: np.ndarray | None = None) -> dict:
    """Check the exported file and return a summary.

    Runs onnx.checker (full check), asserts that BN nodes (if any) have one output, runs onnxruntime at the given
    batch sizes and compares with torch (max abs diff), and measures ONNX accuracy on (x, y) (argmax over the last
    axis; labels with any leading shape; ``mask`` selects entries along the last label axis, e.g. test nodes).
    """
    import onnxruntime as ort

    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    for n in proto.graph.node:
        if n.op_type == "BatchNormalization" and len(n.output) != 1:
            raise RuntimeError(f"{path}: BatchNormalization {n.name} is in training form ({len(n.output)} outputs)")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    model.eval()
    max_diff = 0.0
    for b in batch_sizes:
        xb = np.repeat(x[:1], b, axis=0) if len(x) < b else x[:b]
        got = sess.run(None, {INPUT_NAME: xb})[0]
        with torch.no_grad():
            want = model(torch.from_numpy(xb)).numpy()
        if got.shape != want.shape:
            raise RuntimeError(f"{path}: batch {b}: onnxruntime shape {got.shape} != torch shape {want.shape}")
        max_diff = max(max_diff, float(np.abs(got - want).max()))
    logits = ort_logits(path, x)
    hits = logits.argmax(-1) == y
    acc = float((hits if mask is None else hits[..., mask]).mean())
    return {
        "path": path,
        "ops": op_types(proto),
        "params": n_params(model),
        "bytes": os.path.getsize(path),
        "max_abs_diff_vs_torch": max_diff,
        "onnx_acc": acc,
        "opset": [(o.domain or "ai.onnx", o.version) for o in proto.opset_import],
    }


def print_summary(s: dict) -> None:
    """One readable block per exported model."""
    print(f"{os.path.relpath(s['path'])}: onnx test acc {s['onnx_acc']:.4f}, params {s['params']}, "
          f"{s['bytes']} bytes, opset {s['opset']}, max |onnx - torch| {s['max_abs_diff_vs_torch']:.2e}")
    print(f"  ops: {', '.join(s['ops'])}")
