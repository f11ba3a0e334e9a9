"""calibrate: activation statistics on calibration data, computed by the IR's reference interpreter in ANN mode.

Streams the data in batches (bounded memory) and cross-checks the graph against onnxruntime on the source model.
"""

from __future__ import annotations

import numpy as np

from snncc.errors import DataError, OptionError, PassError
from snncc.ir import run
from snncc.passes.calibration_stats import (GATE_OPS, SAMPLE_BUDGET, SAMPLED_OPS, ActivationStats, gate_nodes,
                                            given_stats, stats_for_rows)
from snncc.limits import check_bytes
from snncc.passes.registry import PassResult, register_pass
from snncc.readout import read_output

__all__ = ["GATE_OPS", "SAMPLE_BUDGET", "ActivationStats", "calibrate", "collect_stats", "cross_check_onnxruntime"]


def cross_check_onnxruntime(graph, model_path: str, x: np.ndarray, tolerance: float = 1e-3) -> float:
    """Max abs difference between the IR (ANN mode) and onnxruntime on `x`; PassError beyond tolerance."""
    from snncc.frontend.load import run_onnxruntime

    from snncc.frontend.cut import parse_outputs

    # ModelLoadError when onnxruntime refuses the model; a model compiled with --outputs is cut the same way
    reference = run_onnxruntime(model_path, x, outputs=parse_outputs(graph.meta.get("outputs")))
    # compared with the source model's first output as it is: the dropped normaliser (Softmax, Sigmoid) applied again
    ours = read_output(graph.meta, 0, run(graph, x)[graph.outputs[0]])
    if ours.shape != reference.shape:
        raise PassError(f"cross-check: the IR output shape {ours.shape} differs from onnxruntime's {reference.shape}")
    diff = float(np.abs(ours - reference).max()) if reference.size else 0.0
    scale = max(1.0, float(np.abs(reference).max()) if reference.size else 1.0)
    if diff > tolerance * scale:
        raise PassError(f"cross-check: the IR computes something else than onnxruntime on {model_path} "
                        f"(max abs difference {diff:.3g}); please report this model")
    return diff


def collect_stats(graph, data, *, batch_size: int = 256, progress: bool = False,
                  nodes: set[str] | None = None) -> dict[str, ActivationStats]:
    """Run the graph in ANN mode over `data` (an array or a CalibrationFile, read a batch at a time) in batches and
    gather ActivationStats for each gate node."""
    from tqdm import tqdm

    def bar(starts):
        return tqdm(starts, desc="calibrate", unit="batch", disable=not progress)

    targets = gate_nodes(graph, nodes)
    if not targets:
        return {}
    # the kept samples of every gate are live together until the end (float64 rows): count them before running
    sampled = [n for n in targets.values() if n.op in SAMPLED_OPS]
    kept = sum(min(SAMPLE_BUDGET, len(data) * n.type.size) for n in sampled) * 8
    check_bytes(kept, f"calibration: the activation samples of {len(sampled)} gate node(s) over {len(data)} "
                      "calibration samples (use fewer samples in --calib)")
    return stats_for_rows(graph, data, 0, len(data), batch_size=batch_size, nodes=nodes, batches=bar).activations()


def _needs_data(node) -> bool:
    """A gate whose threshold or fit range cannot come from the graph itself (Clip(0, c), QCFS and already
    thresholded ReLUs carry theta)."""
    if node.op in ("qcfs", "bounded_relu"):
        return False
    if node.op == "clip":
        return not (node.lo == 0.0 and np.isfinite(node.hi) and node.hi > 0)
    return node.op in GATE_OPS


@register_pass("calibrate")
def calibrate(graph, ctx, batch_size: int = 256, check: bool = True) -> PassResult:
    """Store ActivationStats of every gate node in `ctx.stats["activations"]` (the graph is unchanged). Needs
    `ctx.calibration`. When `ctx.source_model` is set, first checks that the IR computes what onnxruntime computes.
    Statistics handed in `ctx.calibration_stats` (gathered by shards over the same set) are used as they are."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise OptionError(f"calibrate{{batch_size={batch_size}}}: the batch size must be an integer >= 1")
    if ctx.calibration is None:
        if not any(_needs_data(n) for n in graph.nodes):
            ctx.log.append("calibrate: no calibration data and none needed (every gate has a data-free threshold)")
            return PassResult(graph, False)
        raise DataError("calibration data is needed (pass --calib FILE.npz with an array 'x') for this coding and "
                        "balancing; models whose activations are Clip(0, c) or QCFS need none")
    if check and ctx.source_model:
        ctx.stats["onnxruntime_max_abs_diff"] = cross_check_onnxruntime(
            graph, ctx.source_model, np.asarray(ctx.calibration[:64], np.float32))
    given = given_stats(graph, ctx, batch_size)
    ctx.stats["activations"] = given if given is not None else collect_stats(
        graph, ctx.calibration, batch_size=batch_size, progress=ctx.progress)
    return PassResult(graph, False)
