"""calibrate: activation statistics on calibration data, computed by the IR's reference interpreter in ANN mode.

Streams the data in batches (bounded memory) and cross-checks the graph against onnxruntime on the source model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.errors import DataError, OptionError, PassError
from snncc.ir import run
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import channel_axis

# Ops whose outputs (and inputs) thresholds and gate fits are derived from.
GATE_OPS = frozenset({"relu", "clip", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "silu", "hard_swish", "gelu",
                      "bounded_relu", "qcfs"})
SAMPLE_BUDGET = 4_000_000  # sampled activation values kept per layer for percentiles


@dataclass
class ActivationStats:
    """Statistics of one gate node: its output a (max, per-channel max, a row sample for percentiles) and its
    input z (min, max, mean, std) for gate fitting."""

    max: float
    channel_max: np.ndarray
    samples: np.ndarray          # (rows, channels) sampled output values
    input_min: float
    input_max: float
    input_mean: float
    input_std: float

    def layer_stat(self, stat: str, q: float) -> float:
        return self.max if stat == "max" else float(np.percentile(self.samples, q))

    def channel_stat(self, stat: str, q: float) -> np.ndarray:
        return self.channel_max if stat == "max" else np.percentile(self.samples, q, axis=0).astype(np.float32)


class _Accumulator:
    def __init__(self, shape: tuple[int, ...], total_rows: int, seed: int) -> None:
        self.axis = channel_axis(shape)
        self.channels = shape[self.axis] if shape else 1
        self.keep_fraction = min(1.0, (SAMPLE_BUDGET / max(self.channels, 1)) / max(total_rows, 1))
        self.rng = np.random.default_rng(seed)
        self.max = -np.inf
        self.channel_max = np.full(self.channels, -np.inf, np.float32)
        self.samples: list[np.ndarray] = []
        self.z_min, self.z_max, self.z_sum, self.z_sq, self.z_count = np.inf, -np.inf, 0.0, 0.0, 0

    def add_output(self, a: np.ndarray) -> None:
        rows = np.moveaxis(a, 1 + self.axis, -1).reshape(-1, self.channels) if a.ndim > 1 else a.reshape(-1, 1)
        self.max = max(self.max, float(rows.max(initial=-np.inf)))
        self.channel_max = np.maximum(self.channel_max, rows.max(axis=0, initial=-np.inf))
        if self.keep_fraction >= 1.0:
            self.samples.append(rows.copy())
        else:
            self.samples.append(rows[self.rng.random(len(rows)) < self.keep_fraction])

    def add_input(self, z: np.ndarray) -> None:
        z64 = z.astype(np.float64)
        self.z_min = min(self.z_min, float(z64.min(initial=np.inf)))
        self.z_max = max(self.z_max, float(z64.max(initial=-np.inf)))
        self.z_sum += float(z64.sum())
        self.z_sq += float((z64 * z64).sum())
        self.z_count += z64.size

    def result(self) -> ActivationStats:
        mean = self.z_sum / max(self.z_count, 1)
        std = float(np.sqrt(max(self.z_sq / max(self.z_count, 1) - mean * mean, 0.0)))
        samples = np.concatenate(self.samples) if self.samples else np.zeros((0, self.channels), np.float32)
        return ActivationStats(float(self.max), self.channel_max.astype(np.float32), samples,
                               float(self.z_min), float(self.z_max), float(mean), std)


def _with_dropped_normaliser(y: np.ndarray, tail: str) -> np.ndarray:
    """The IR output with the output tail's dropped Softmax/LogSoftmax applied again over each sample's values (the
    logits vector: only reshapes may follow the normaliser), so that it compares with onnxruntime on the source
    model, which still has it."""
    if "Softmax" not in tail or y.ndim < 1:
        return y
    flat = y.reshape(len(y), -1).astype(np.float64)
    z = flat - flat.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return (log_p if "LogSoftmax" in tail else np.exp(log_p)).astype(np.float32).reshape(y.shape)


def cross_check_onnxruntime(graph, model_path: str, x: np.ndarray, tolerance: float = 1e-3) -> float:
    """Max abs difference between the IR (ANN mode) and onnxruntime on `x`; PassError beyond tolerance."""
    from snncc.frontend.load import run_onnxruntime

    reference = run_onnxruntime(model_path, x)   # ModelLoadError when onnxruntime refuses the model
    ours = run(graph, x)[graph.outputs[0]]
    ours = _with_dropped_normaliser(ours, graph.meta.get("dropped_tail", ""))
    if ours.shape != reference.shape:
        raise PassError(f"cross-check: the IR output shape {ours.shape} differs from onnxruntime's {reference.shape}")
    diff = float(np.abs(ours - reference).max()) if reference.size else 0.0
    scale = max(1.0, float(np.abs(reference).max()) if reference.size else 1.0)
    if diff > tolerance * scale:
        raise PassError(f"cross-check: the IR computes something else than onnxruntime on {model_path} "
                        f"(max abs difference {diff:.3g}); please report this model")
    return diff


def collect_stats(graph, data: np.ndarray, *, batch_size: int = 256, progress: bool = False,
                  nodes: set[str] | None = None) -> dict[str, ActivationStats]:
    """Run the graph in ANN mode over `data` in batches and gather ActivationStats for each gate node."""
    from tqdm import tqdm

    targets = {n.name: n for n in graph.nodes if n.op in GATE_OPS and (nodes is None or n.name in nodes)}
    if not targets:
        return {}
    inputs_of: dict[str, list[str]] = {}
    for name, n in targets.items():
        inputs_of.setdefault(n.inputs[0], []).append(name)
    acc = {}
    for seed, (name, n) in enumerate(targets.items()):
        positions = n.type.size // max(n.type.shape[channel_axis(n.type.shape)] if n.type.shape else 1, 1)
        acc[name] = _Accumulator(n.type.shape, len(data) * positions, seed)

    def observe(name: str, value: np.ndarray) -> None:
        if name in acc:
            acc[name].add_output(value)
        for gate in inputs_of.get(name, ()):
            acc[gate].add_input(value)

    starts = range(0, len(data), batch_size)
    for start in tqdm(starts, desc="calibrate", unit="batch", disable=not progress):
        run(graph, data[start:start + batch_size], observe=observe, dtype=np.float64)
    return {name: a.result() for name, a in acc.items()}


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
    `ctx.calibration`. When `ctx.source_model` is set, first checks that the IR computes what onnxruntime computes."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise OptionError(f"calibrate{{batch_size={batch_size}}}: the batch size must be an integer >= 1")
    if ctx.calibration is None:
        if not any(_needs_data(n) for n in graph.nodes):
            ctx.log.append("calibrate: no calibration data and none needed (every gate has a data-free threshold)")
            return PassResult(graph, False)
        raise DataError("calibration data is needed (pass --calib FILE.npz with an array 'x') for this coding and "
                        "balancing; models whose activations are Clip(0, c) or QCFS need none")
    data = np.asarray(ctx.calibration, dtype=np.float32)
    if check and ctx.source_model:
        ctx.stats["onnxruntime_max_abs_diff"] = cross_check_onnxruntime(graph, ctx.source_model, data[:64])
    ctx.stats["activations"] = collect_stats(graph, data, batch_size=batch_size, progress=ctx.progress)
    return PassResult(graph, False)
