"""Spike traffic: per-neuron spike counts measured on calibration data, and the per-population rates that `compile`
records in the `.snnir` header (`spike_rates`) so that `map` weighs routes by real traffic without the data.

The header entry reads `name=rate name=rate ...`: mean spikes per neuron per sample of every spiking population,
four significant digits, populations in graph order, measured on the first RATE_SAMPLES calibration rows."""

from __future__ import annotations

import math
import re

import numpy as np

from snncc.errors import FormatError
from snncc.ir import Graph
from snncc.limits import element_count, max_bytes

HEADER_KEY = "spike_rates"
CALIBRATION_SAMPLES = 128
# Samples compile simulates to record the rates. They weigh routes, so 16 is plenty: against 64 rows on ppocr_cls amos
# the 63 rates move by 0.24 % (median; 6.8 % at most, a near-silent population), while the simulation took 68 of 94 s
# of an OriNet compile at 64 rows (benchmarks/rate_samples.py).
RATE_SAMPLES = 16
_ENTRY = re.compile(r"([A-Za-z0-9_.:\-/]+)=([0-9.eE+\-]+)")
# Simulator state per sample, in bytes per activation element (a population's membrane, output and counts, a
# conv's im2col scratch): measured 28 MiB per sample on a ResNet-50 at 64 x 64, whose 3.2 M activations take 12 MiB.
STATE_BYTES_PER_ELEMENT = 12
MAX_TRAFFIC_BATCH = 128


def traffic_batch(graph: Graph) -> int:
    """Samples simulated at once when counting spikes: as many as keep the simulator's state under a sixteenth of
    the memory cap (256 MiB at the default 4 GiB), between 1 and MAX_TRAFFIC_BATCH. The kernels run every sample
    on its own, so the counts do not depend on it."""
    per_sample = STATE_BYTES_PER_ELEMENT * sum(element_count(node.type.shape) for node in graph.nodes)
    return max(1, min(MAX_TRAFFIC_BATCH, max_bytes() // 16 // max(per_sample, 1)))


def neuron_spike_counts(graph: Graph, x: np.ndarray, timesteps: int, batch_size: int | None = None,
                        progress: bool = False, desc: str = "spike traffic") -> dict[str, np.ndarray]:
    """Mean spikes per sample of every neuron of every spiking population (flat C-order arrays), measured with the
    simulator's NumPy kernels on analog input: the per-neuron counts the simulator keeps per batch (`kernel.counts`),
    summed here (its `simulate` reports layer totals only). `batch_size`: samples at once (default `traffic_batch`).

    Not on the ort engine, although it was 2.1x faster on a ResNet-50 at 64 x 64 (8 samples, T=32): its synaptic sums
    round differently from NumPy's BLAS, which moved 18 of 57 recorded rates in the 4th digit there (and digits_resnet
    amos's on the bundled models), so the .snnir bytes would depend on the engine (docs/performance.md)."""
    from snncc.backends.simulator import build_program
    from snncc.backends.simulator import kernels
    from snncc.backends.simulator.runner import _one_blas_thread

    program = build_program(graph)
    batch_size = batch_size or traffic_batch(graph)
    run = kernels.RunOptions("analog", 0, "dense")
    schedule = kernels.SCHEDULES[program.schedule]
    n = len(x)
    totals: dict[str, np.ndarray] = {}
    bar = kernels.progress_bar(n, desc, progress)
    try:
        # as `simulate`: BLAS threads on the step loop's many small products cost far more than they give
        with _one_blas_thread():
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                batch = {program.inputs[0]: np.asarray(x[start:stop], np.float32)}
                bound = program.bind(batch, stop - start, run, start)
                schedule(kernels.BatchRun(program, bound, stop - start, bar and bar.update), [int(timesteps)])
                for kernel in program.kernels:
                    if kernel.counts is not None:
                        c = kernel.counts.reshape(stop - start, -1).astype(np.float64).sum(axis=0)
                        totals[kernel.name] = totals.get(kernel.name, 0.0) + c
    finally:
        if bar is not None:
            bar.close()
    return {k: v / max(n, 1) for k, v in totals.items()}


def population_rates(graph: Graph, x: np.ndarray, timesteps: int, samples: int = RATE_SAMPLES,
                     progress: bool = False) -> dict[str, float]:
    """Mean spikes per neuron per sample of each spiking population on the first `samples` rows of `x`."""
    counts = neuron_spike_counts(graph, np.asarray(x[:samples], np.float32), timesteps, progress=progress,
                                 desc="compile: spike rates")
    order = {node.name: i for i, node in enumerate(graph.nodes)}
    return {name: float(c.mean()) if c.size else 0.0 for name, c in sorted(counts.items(),
                                                                          key=lambda kv: order.get(kv[0], 0))}


def format_rates(rates: dict[str, float]) -> str:
    return " ".join(f"{name}={rate:.4g}" for name, rate in rates.items())


def parse_rates(text: str) -> dict[str, float]:
    """The header entry back as {population: rate}; FormatError on anything but `name=number` pairs."""
    rates = {}
    for item in text.split():
        m = _ENTRY.fullmatch(item)
        value = float(m.group(2)) if m else math.nan
        if not m or not math.isfinite(value) or value < 0:
            raise FormatError(f"header entry {HEADER_KEY} has a malformed item {item[:60]!r}; expected name=rate "
                              "with a finite rate >= 0 (recompile, or map with --traffic simulate)")
        rates[m.group(1)] = value
    return rates


def recorded_rates(graph: Graph) -> dict[str, float] | None:
    """The rates `compile` recorded in the header, or None when it recorded none."""
    text = graph.meta.get(HEADER_KEY)
    return None if text is None else parse_rates(text)
