"""Calibration statistics as a mergeable object: gathered over any run of consecutive rows of the calibration set
(a shard) and merged in row order, they are bit for bit those of one pass over the whole set.

What makes the merge exact:
- the row sample kept for percentiles is drawn per fixed block of BLOCK samples, from a generator seeded by
  (gate, block): which activation rows are kept depends only on global sample indices, never on the shard;
- the input sums for the mean and std are kept per sample in float64 and added once, at the end, by math.fsum
  (exactly rounded, so the grouping into shards cannot change a bit); max and min do not depend on order;
- the graph runs on the global grid of `batch_size` rows: a shard starting on a multiple of `batch_size` runs
  exactly the batches the whole-set pass runs (same BLAS calls, same activations).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, replace
from typing import Callable, Iterable

import numpy as np

from snncc.ir import run, to_text
from snncc.passes.rewrite import channel_axis

# Ops whose outputs (and inputs) thresholds and gate fits are derived from.
GATE_OPS = frozenset({"relu", "clip", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "silu", "hard_swish", "gelu",
                      "bounded_relu", "qcfs"})
SAMPLE_BUDGET = 4_000_000  # sampled activation values kept per layer for percentiles
# Only ReLU thresholds are percentiles of the outputs (balance-thresholds); the other gates need max and input
# statistics alone, so their output rows are not kept (a detector with 94 HardSwish layers kept 3 GB of them)
SAMPLED_OPS = frozenset({"relu"})
BLOCK = 64                 # samples per block of the row sample's random draws


@dataclass
class ActivationStats:
    """Statistics of one gate node: its output a (max, per-channel max, a row sample for percentiles) and its
    input z (min, max, mean, std) for gate fitting, and z's per-channel min and max (per-channel staircases)."""

    max: float
    channel_max: np.ndarray
    samples: np.ndarray          # (rows, channels) sampled output values
    input_min: float
    input_max: float
    input_mean: float
    input_std: float
    input_channel_min: np.ndarray | None = None      # float64 (channels,)
    input_channel_max: np.ndarray | None = None

    def _sampled(self) -> np.ndarray:
        if self.samples.size == 0:
            raise ValueError("no activation rows were kept for this gate (only ReLU outputs are sampled); use "
                             "stat=max")
        return self.samples

    def layer_stat(self, stat: str, q: float) -> float:
        return self.max if stat == "max" else float(np.percentile(self._sampled(), q))

    def channel_stat(self, stat: str, q: float) -> np.ndarray:
        return self.channel_max if stat == "max" else np.percentile(self._sampled(), q, axis=0).astype(np.float32)


@dataclass
class GateStats:
    """One gate's partial statistics over some rows: sums kept per sample, the row sample kept per batch."""

    max: float
    channel_max: np.ndarray                 # float32 (channels,)
    samples: list[np.ndarray]               # kept (rows, channels) output values, in row order
    input_min: float
    input_max: float
    input_sums: list[np.ndarray]            # float64 sum of z over each sample
    input_squares: list[np.ndarray]         # float64 sum of z^2 over each sample
    input_count: int
    input_channel_min: np.ndarray           # float64 (channels,)
    input_channel_max: np.ndarray

    def merge(self, later: "GateStats") -> "GateStats":
        return GateStats(max(self.max, later.max), np.maximum(self.channel_max, later.channel_max),
                         self.samples + later.samples, min(self.input_min, later.input_min),
                         max(self.input_max, later.input_max), self.input_sums + later.input_sums,
                         self.input_squares + later.input_squares, self.input_count + later.input_count,
                         np.minimum(self.input_channel_min, later.input_channel_min),
                         np.maximum(self.input_channel_max, later.input_channel_max))

    def result(self, channels: int) -> ActivationStats:
        count = max(self.input_count, 1)
        mean = math.fsum(itertools.chain.from_iterable(self.input_sums)) / count
        squares = math.fsum(itertools.chain.from_iterable(self.input_squares)) / count
        samples = np.concatenate(self.samples) if self.samples else np.zeros((0, channels), np.float32)
        return ActivationStats(float(self.max), self.channel_max.astype(np.float32), samples, float(self.input_min),
                               float(self.input_max), float(mean), float(np.sqrt(max(squares - mean * mean, 0.0))),
                               self.input_channel_min.copy(), self.input_channel_max.copy())


@dataclass
class CalibrationStats:
    """Statistics of every gate node of one graph over calibration rows [start, stop) of a set of `total` rows.

    `digest` names the graph they were gathered on (`graph_digest`); a pass uses given statistics only for that
    graph, that batch size and the whole set. `merge` appends the next shard: `a.merge(b)` needs `b.start == a.stop`.
    """

    digest: str
    total: int
    batch_size: int
    sample_budget: int
    start: int
    stop: int
    channels: dict[str, int]
    gates: dict[str, GateStats]

    @property
    def complete(self) -> bool:
        return self.start == 0 and self.stop == self.total

    def merge(self, later: "CalibrationStats") -> "CalibrationStats":
        same = (self.digest, self.total, self.batch_size, self.sample_budget, list(self.gates))
        if same != (later.digest, later.total, later.batch_size, later.sample_budget, list(later.gates)):
            raise ValueError("calibration statistics of another graph, set, batch size or sample budget")
        if later.start != self.stop:
            raise ValueError(f"shards merge in row order: rows [{self.start}, {self.stop}) then "
                             f"[{later.start}, {later.stop})")
        return replace(self, stop=later.stop,
                       gates={name: g.merge(later.gates[name]) for name, g in self.gates.items()})

    def activations(self) -> dict[str, ActivationStats]:
        return {name: g.result(self.channels[name]) for name, g in self.gates.items()}


def merge_all(parts: Iterable[CalibrationStats]) -> CalibrationStats:
    """The shards' statistics merged in the order given (row order)."""
    parts = list(parts)
    total = parts[0]
    for part in parts[1:]:
        total = total.merge(part)
    return total


def graph_digest(graph) -> str:
    """SHA-256 of the graph's text form (tensors enter by their own SHA-256)."""
    return hashlib.sha256(to_text(graph).encode()).hexdigest()


def gate_nodes(graph, nodes: set[str] | None = None) -> dict:
    return {n.name: n for n in graph.nodes if n.op in GATE_OPS and (nodes is None or n.name in nodes)}


def _positions(shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, positions per sample) of a value of per-sample `shape`."""
    channels = shape[channel_axis(shape)] if shape else 1
    return channels, math.prod(shape) // max(channels, 1)


def _kept(seed: int, start: int, stop: int, positions: int, fraction: float) -> np.ndarray:
    """Which rows of samples [start, stop) (sample-major, `positions` rows each) the row sample keeps: drawn per
    block of BLOCK samples from a generator seeded by (seed, block), so the same rows whatever the shard."""
    keep = []
    for block in range(start // BLOCK, (stop - 1) // BLOCK + 1):
        draws = np.random.default_rng([seed, block]).random((BLOCK, positions))
        lo, hi = max(start, block * BLOCK) - block * BLOCK, min(stop, (block + 1) * BLOCK) - block * BLOCK
        keep.append(draws[lo:hi].reshape(-1) < fraction)
    return np.concatenate(keep)


def stats_for_rows(graph, rows, start: int, total: int, *, batch_size: int = 256,
                   sample_budget: int = SAMPLE_BUDGET, nodes: set[str] | None = None,
                   batches: Callable[[Iterable], Iterable] = lambda it: it) -> CalibrationStats:
    """CalibrationStats of rows [start, start + len(rows)) of a calibration set of `total` rows, run in ANN mode
    (float64) in batches on the global grid of `batch_size`. `rows` is an array or anything sliced like one (a
    CalibrationFile reads each batch from disk); `batches` wraps the batch iterator (a progress bar)."""
    if start % batch_size:
        raise ValueError(f"a shard must start on a multiple of the batch size {batch_size}, not at row {start}")
    targets = gate_nodes(graph, nodes)
    inputs_of: dict[str, list[str]] = {}
    for name, n in targets.items():
        inputs_of.setdefault(n.inputs[0], []).append(name)
    shapes = {name: tuple(n.type.shape) for name, n in targets.items()}
    channels = {name: _positions(shape)[0] for name, shape in shapes.items()}
    fraction = {name: min(1.0, (sample_budget / max(c, 1)) / max(total * _positions(shapes[name])[1], 1))
                for name, c in channels.items()}
    gates = {name: GateStats(-math.inf, np.full(channels[name], -np.inf, np.float32), [], math.inf, -math.inf,
                             [], [], 0, np.full(channels[name], np.inf), np.full(channels[name], -np.inf))
             for name in targets}
    seeds = {name: seed for seed, name in enumerate(targets)}
    window = [0, 0]

    def observe(name: str, value: np.ndarray) -> None:
        if name in gates:
            add_output(name, value)
        for gate in inputs_of.get(name, ()):
            add_input(gates[gate], value, channels[gate], channel_axis(shapes[gate]))

    def add_output(name: str, a: np.ndarray) -> None:
        g, c = gates[name], channels[name]
        axis = channel_axis(shapes[name])
        rows_ = np.moveaxis(a, 1 + axis, -1).reshape(-1, c) if a.ndim > 1 else a.reshape(-1, 1)
        g.max = max(g.max, float(rows_.max(initial=-np.inf)))
        g.channel_max = np.maximum(g.channel_max, rows_.max(axis=0, initial=-np.inf))
        if targets[name].op not in SAMPLED_OPS:
            return
        if fraction[name] >= 1.0:
            g.samples.append(rows_.copy())
        else:
            g.samples.append(rows_[_kept(seeds[name], window[0], window[1], len(rows_) // len(a), fraction[name])])

    def add_input(g: GateStats, z: np.ndarray, c: int, axis: int) -> None:
        z64 = z.astype(np.float64).reshape(len(z), -1)
        g.input_min = min(g.input_min, float(z64.min(initial=np.inf)))
        g.input_max = max(g.input_max, float(z64.max(initial=-np.inf)))
        rows_ = np.moveaxis(z, 1 + axis, -1).reshape(-1, c) if z.ndim > 1 else z.reshape(-1, 1)
        g.input_channel_min = np.minimum(g.input_channel_min, rows_.min(axis=0, initial=np.inf))
        g.input_channel_max = np.maximum(g.input_channel_max, rows_.max(axis=0, initial=-np.inf))
        g.input_sums.append(z64.sum(axis=1))
        g.input_squares.append((z64 * z64).sum(axis=1))
        g.input_count += z64.size

    stop = start + len(rows)
    if targets:
        for lo in batches(range(start, stop, batch_size)):
            window[:] = lo, min(lo + batch_size, stop)
            run(graph, np.asarray(rows[lo - start:window[1] - start], np.float32), observe=observe,
                dtype=np.float64)
    return CalibrationStats(graph_digest(graph), total, batch_size, sample_budget, start, stop, channels, gates)


def given_stats(graph, ctx, batch_size: int) -> dict[str, ActivationStats] | None:
    """The statistics handed to the compile (`ctx.calibration_stats`, e.g. gathered by shards on a cluster) when
    they were gathered on this very graph, with this batch size, over the whole calibration set; else None."""
    given = getattr(ctx, "calibration_stats", None)
    if given is None or ctx.calibration is None:
        return None
    if given.digest != graph_digest(graph) or given.batch_size != batch_size or not given.complete \
            or given.total != len(ctx.calibration):
        return None
    ctx.log.append(f"calibrate: statistics given (gathered by shards over {given.total} rows)")
    return given.activations()
