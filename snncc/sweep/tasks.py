"""The work of a sweep, as plain functions a Dask worker (or the calling process) runs: compile one point, run the
ANN on one shard, simulate one compiled point on one shard. Results are counts, so shards merge exactly."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from snncc.errors import DataError, SnnccError
from snncc.npz_shards import Member, read_rows


@dataclass(frozen=True)
class Point:
    """One compiled configuration: a coding and its option (T, or phases K where T does not apply)."""

    coding: str
    timesteps: int | None = None
    phases: int | None = None

    @property
    def id(self) -> str:
        return self.coding + (f"-T{self.timesteps}" if self.timesteps else "") + (f"-K{self.phases}" if self.phases
                                                                                else "")


@dataclass(frozen=True)
class Compiled:
    """A compile task's outcome: the .snnir bytes, or the error that made the point infeasible."""

    point: Point
    snnir: bytes | None
    error: str | None
    seconds: float


@dataclass
class Counts:
    """What a shard measured, as sums (merging shards adds them: no averaged averages)."""

    samples: int = 0
    labels: int = 0                    # label positions scored (y.size)
    hits: int = 0                      # SNN predictions equal to the label
    ann_hits: int = 0
    agree: int = 0                     # SNN prediction equal to the ANN's
    ann_samples: int = 0               # samples that have an ANN prediction
    spikes: dict[str, int] = field(default_factory=dict)
    synops: int = 0
    snn_macs: int = 0
    max_spikes_per_neuron: int = 0
    ann_macs_per_sample: int = 0
    latency_steps: int = 0
    window_steps: int = 0
    seconds: float = 0.0
    snn_energy_pj: float = 0.0         # summed over samples (the simulator's per-sample energy x n)
    ann_energy_pj: float = 0.0         # per sample

    def merge(self, other: "Counts") -> "Counts":
        spikes = dict(self.spikes)
        for name, count in other.spikes.items():
            spikes[name] = spikes.get(name, 0) + count
        return Counts(self.samples + other.samples, self.labels + other.labels, self.hits + other.hits,
                      self.ann_hits + other.ann_hits, self.agree + other.agree,
                      self.ann_samples + other.ann_samples, spikes, self.synops + other.synops,
                      self.snn_macs + other.snn_macs, max(self.max_spikes_per_neuron, other.max_spikes_per_neuron),
                      other.ann_macs_per_sample or self.ann_macs_per_sample,
                      other.latency_steps or self.latency_steps, other.window_steps or self.window_steps,
                      self.seconds + other.seconds, self.snn_energy_pj + other.snn_energy_pj,
                      other.ann_energy_pj or self.ann_energy_pj)


def compile_point(model: str, calib: str | None, point: Point, options: dict, stats=None) -> Compiled:
    """Compile `model` at `point`; a user-caused failure (unsupported op, infeasible option) is returned, not
    raised, so that it becomes the point's record instead of failing the sweep. `stats`: the CalibrationStats
    gathered by shards (snncc.sweep.calibration); the calibration file is then read only for what else needs it."""
    import snncc
    from snncc.calibration_file import CalibrationFile
    from snncc.ir import to_bytes

    start = time.perf_counter()
    try:
        calibration = CalibrationFile(calib) if calib else None
        opts = dict(options, phases=point.phases if point.phases else options.get("phases"))
        graph = snncc.compile(model, point.coding, timesteps=point.timesteps or 32, calibration=calibration,
                              calibration_stats=stats, **opts)
        return Compiled(point, to_bytes(graph), None, time.perf_counter() - start)
    except SnnccError as exc:
        return Compiled(point, None, str(exc), time.perf_counter() - start)


def _samples(data: str, x: Member, start: int, stop: int) -> np.ndarray:
    rows = read_rows(data, x, start, stop)
    if rows.dtype.kind not in "fiu":
        raise DataError(f"{data}: 'x' has dtype {rows.dtype}; a numeric array is expected")
    rows = rows.astype(np.float32)
    if not np.all(np.isfinite(rows)):
        raise DataError(f"{data}: 'x' rows {start}..{stop - 1} contain NaN or Inf")
    return rows


def ann_shard(model: str, data: str, x: Member, start: int, stop: int) -> np.ndarray | None:
    """The source ANN's predictions (onnxruntime) on rows [start, stop); None when onnxruntime cannot run it."""
    from snncc.frontend.load import run_onnxruntime

    try:
        return run_onnxruntime(model, _samples(data, x, start, stop)).argmax(-1)
    except SnnccError:
        return None


def eval_shard(compiled: Compiled, data: str, x: Member, y: Member | None, start: int, stop: int,
               ann_pred: np.ndarray | None, batch_size: int = 256) -> Counts | None:
    """Simulate the compiled point on rows [start, stop) for its T; None for a point that did not compile."""
    if compiled.snnir is None:
        return None
    from snncc.backends.simulator import simulate
    from snncc.ir import from_bytes
    from snncc.ir.serialize import header_timesteps

    began = time.perf_counter()
    graph = from_bytes(compiled.snnir)
    samples = _samples(data, x, start, stop)
    expected = tuple(graph.inputs[0].type.shape)
    if samples.shape[1:] != expected:
        raise DataError(f"{data}: 'x' has per-sample shape {list(samples.shape[1:])} but the model expects "
                        f"{list(expected)}")
    steps = header_timesteps(graph)
    from snncc.evaluate import check_float32_range

    check_float32_range(graph, samples, steps)   # as `snncc eval`: data that could overflow are refused
    result = simulate(graph, samples, [steps], batch_size=batch_size)
    pred = result.predictions[steps]
    n = len(samples)
    counts = Counts(samples=n, ann_macs_per_sample=int(result.ann_macs_per_sample),
                    latency_steps=int(result.latency_steps), window_steps=int(result.pipeline_interval_steps),
                    max_spikes_per_neuron=int(result.max_spikes_per_neuron))
    # the simulator reports means over the shard's n samples of integer counts (spikes, spikes x integer fan-out,
    # MACs); sums below 2^51 come back exactly from mean x n by rounding
    counts.spikes = {name: round(mean * n) for name, mean in result.spikes_per_layer.items()}
    counts.synops = round(result.synops_per_sample * n)
    counts.snn_macs = round(result.snn_macs_per_sample * n)
    counts.snn_energy_pj = float(result.snn_energy_pj) * n
    counts.ann_energy_pj = float(result.ann_energy_pj)
    if y is not None:
        labels = read_rows(data, y, start, stop).astype(np.int64)
        counts.labels = int(labels.size)
        counts.hits = int(np.sum(pred == labels))
        if ann_pred is not None:
            counts.ann_hits = int(np.sum(ann_pred == labels))
    if ann_pred is not None:
        counts.ann_samples = int(ann_pred.size)
        counts.agree = int(np.sum(pred == ann_pred))
    counts.seconds = time.perf_counter() - began
    return counts
