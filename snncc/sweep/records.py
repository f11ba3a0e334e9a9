"""One JSON record per sweep point, from its merged counts (or from why it has none)."""

from __future__ import annotations

from snncc.sweep.tasks import Compiled, Counts, Point


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def point_fields(point: Point) -> dict:
    return {"id": point.id, "coding": point.coding, "timesteps": point.timesteps, "phases": point.phases}


def infeasible_record(point: Point, reason: str) -> dict:
    """A point `snncc check` rules out, or one that failed to compile."""
    return dict(point_fields(point), status="infeasible", reason=reason)


def point_record(compiled: Compiled, counts: Counts) -> dict:
    n = counts.samples
    ann_energy = counts.ann_energy_pj
    snn_energy = counts.snn_energy_pj / n
    scored_ann = counts.ann_samples == n
    return dict(
        point_fields(compiled.point), status="ok", samples=n,
        accuracy=_ratio(counts.hits, counts.labels),
        ann_accuracy=_ratio(counts.ann_hits, counts.labels) if scored_ann else None,
        agreement=_ratio(counts.agree, counts.ann_samples) if scored_ann else None,
        latency_steps=counts.latency_steps, window_steps=counts.window_steps,
        spikes_per_sample=sum(counts.spikes.values()) / n, synops_per_sample=counts.synops / n,
        energy_ratio=ann_energy / snn_energy if snn_energy > 0 else None,
        spikes_per_layer={name: c / n for name, c in counts.spikes.items()},
        max_spikes_per_neuron=counts.max_spikes_per_neuron,
        compile_s=round(compiled.seconds, 3), eval_s=round(counts.seconds, 3))


# fields that depend on the machine's speed, not on the computation (left out when comparing two sweeps)
TIMING_FIELDS = ("compile_s", "eval_s")
