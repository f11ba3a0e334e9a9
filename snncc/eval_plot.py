"""`snncc eval --plot OUT.png`: one model's picture. Left, accuracy (or agreement with the ANN) against the time step,
from checkpoints of one run; right, spikes per sample in every layer. matplotlib is the optional `plot` extra."""

from __future__ import annotations

import io
import os

from snncc.evaluate import EvalReport

MAX_CHECKPOINTS = 64


def plot_checkpoints(requested: list[int]) -> list[int]:
    """The steps the curve is drawn at: every step up to 64, then 64 geometrically spaced ones up to the largest
    requested T, plus the requested ones (one simulation records them all)."""
    top = max(requested)
    if top <= MAX_CHECKPOINTS:
        steps = set(range(1, top + 1))
    else:
        steps = {max(1, round(top ** (i / (MAX_CHECKPOINTS - 1)))) for i in range(MAX_CHECKPOINTS)}
    return sorted(steps | set(requested))


def only(report: EvalReport, timesteps: list[int]) -> EvalReport:
    """The report restricted to the T the user asked for (the plot's extra checkpoints are not printed)."""
    from dataclasses import replace

    keep = lambda d: {t: d[t] for t in timesteps}  # noqa: E731
    return replace(report, timesteps=list(timesteps), snn_accuracy=keep(report.snn_accuracy),
                   agreement=keep(report.agreement), notes=list(report.notes))


def pyplot():
    """matplotlib's pyplot on the Agg backend, or an OptionError saying how to install it."""
    from snncc.sweep.report import pyplot as sweep_pyplot

    return sweep_pyplot()


def eval_plot_png(report: EvalReport, title: str) -> bytes:
    """The two-panel figure as PNG bytes."""
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.2, 1]})
    labelled = any(v is not None for v in report.snn_accuracy.values())
    curve = report.snn_accuracy if labelled else report.agreement
    what = "accuracy" if labelled else "agreement with the ANN"
    if report.schedule == "windowed":   # one run of fixed latency: a single point, not a curve over T
        value = curve[report.timesteps[-1]]
        if value is not None:
            left.plot([report.latency_steps], [100 * value], "o", label=f"SNN {what}")
        left.set_xlim(0, max(report.latency_steps, 1) * 1.25)
        xlabel = "latency (time steps, layer-windowed schedule)"
    else:
        points = [(t, v) for t, v in sorted(curve.items()) if v is not None]
        if points:
            left.plot([t for t, _ in points], [100 * v for _, v in points], "-", marker="." if len(points) < 40
                      else None, label=f"SNN {what}")
        if max(report.timesteps) > 16:
            left.set_xscale("log", base=2)
        xlabel = "time step T"
    if labelled and report.ann_accuracy is not None:
        left.axhline(100 * report.ann_accuracy, color="grey", linestyle="--", label="ANN accuracy")
    left.set_ylim(top=min(left.get_ylim()[1], 100.5))
    left.set(xlabel=xlabel, ylabel=f"{what} (%)", title=title)
    left.grid(alpha=0.3)
    left.legend(loc="lower right")
    layers = list(report.spikes_per_layer.items())
    right.barh([name for name, _ in layers][::-1], [v for _, v in layers][::-1], color="tab:orange")
    right.set(xlabel="spikes per sample", title=f"spikes per layer ({report.spikes_per_sample:.0f} per sample)")
    right.tick_params(axis="y", labelsize=8)
    right.grid(alpha=0.3, axis="x")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def write_eval_plot(report: EvalReport, path: str | os.PathLike, title: str) -> None:
    """Write the figure to `path` atomically."""
    from snncc.ir.atomic_write import atomic_write

    atomic_write(path, eval_plot_png(report, title))
