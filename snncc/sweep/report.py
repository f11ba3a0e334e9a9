"""`report.html` of a sweep: the results table and three plots (matplotlib, the optional `plot` extra), written as
PNG files under `plots/` and embedded in the page, so that the page is one self-contained file."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from snncc.errors import OptionError
from snncc.ir.atomic_write import atomic_write

REPORT_FILE = "report.html"
PLOTS_FOLDER = "plots"


def score(record: dict) -> float | None:
    """What the sweep ranks by: accuracy on the labels, else agreement with the ANN."""
    return record["accuracy"] if record.get("accuracy") is not None else record.get("agreement")


def pareto_front(records: list[dict]) -> set[str]:
    """Ids of the points no other point beats on both score (higher) and spikes per sample (lower)."""
    ok = [r for r in records if r.get("status") == "ok" and score(r) is not None]
    front = set()
    for r in ok:
        dominated = any(score(o) >= score(r) and o["spikes_per_sample"] <= r["spikes_per_sample"]
                        and (score(o) > score(r) or o["spikes_per_sample"] < r["spikes_per_sample"]) for o in ok)
        if not dominated:
            front.add(r["id"])
    return front


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise OptionError("plots need matplotlib: pip install 'snncc[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure, ax, xlabel: str, ylabel: str, title: str) -> bytes:
    """Label, grid and legend `ax`, then the figure as PNG bytes."""
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(figure)
    return buffer.getvalue()


def _by_coding(records: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in records:
        if r.get("status") == "ok" and score(r) is not None:
            groups.setdefault(r["coding"], []).append(r)
    return groups


def accuracy_vs_latency(records: list[dict]) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for coding, rs in _by_coding(records).items():
        rs = sorted(rs, key=lambda r: r["latency_steps"])
        ax.plot([r["latency_steps"] for r in rs], [100 * score(r) for r in rs], "o-", label=coding)
    ax.set_xscale("log", base=2)
    return _png(fig, ax, "latency (time steps until the output is ready)", "accuracy %", "accuracy vs latency")


def accuracy_vs_spikes(records: list[dict]) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for coding, rs in _by_coding(records).items():
        ax.plot([r["spikes_per_sample"] for r in rs], [100 * score(r) for r in rs], "o", label=coding)
    front = sorted((r for r in records if r["id"] in pareto_front(records)), key=lambda r: r["spikes_per_sample"])
    if front:
        ax.step([r["spikes_per_sample"] for r in front], [100 * score(r) for r in front], "k--", where="post",
                lw=1, label="Pareto front")
        ax.plot([r["spikes_per_sample"] for r in front], [100 * score(r) for r in front], "o", mfc="none",
                mec="k", ms=12)
    ax.set_xscale("log")
    return _png(fig, ax, "spikes per sample", "accuracy %", "accuracy vs spikes (Pareto front circled)")


def spikes_per_layer(records: list[dict]) -> bytes:
    """Per coding, its best-scoring point's spikes per layer, layers in network order."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for coding, rs in _by_coding(records).items():
        best = max(rs, key=lambda r: (score(r), -r["spikes_per_sample"]))
        layers = best["spikes_per_layer"]
        ax.plot(range(len(layers)), list(layers.values()), "o-", label=best["id"])
    ax.set_yscale("symlog")
    return _png(fig, ax, "spiking layer (network order)", "spikes per sample", "spikes per layer")


PLOTS = {"accuracy_vs_latency.png": accuracy_vs_latency, "accuracy_vs_spikes.png": accuracy_vs_spikes,
         "spikes_per_layer.png": spikes_per_layer}

_COLUMNS = [("id", "point"), ("accuracy", "acc %"), ("ann_accuracy", "ANN acc %"), ("agreement", "agree %"),
            ("latency_steps", "latency"), ("window_steps", "window"), ("spikes_per_sample", "spikes/sample"),
            ("synops_per_sample", "SynOps/sample"), ("energy_ratio", "energy ANN/SNN"), ("compile_s", "compile s"),
            ("eval_s", "eval s")]


def _cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key in ("accuracy", "ann_accuracy", "agreement"):
        return f"{100 * value:.2f}"
    if isinstance(value, float):
        return f"{value:.3g}" if key == "energy_ratio" else f"{value:.1f}"
    return html.escape(str(value))


def results_table(records: list[dict]) -> str:
    """The sweep as a fixed-width text table (the CLI prints it)."""
    front = pareto_front(records)
    rows = [[title for _, title in _COLUMNS] + ["pareto"]]
    for r in records:
        if r.get("status") == "ok":
            rows.append([_cell(k, r.get(k)) for k, _ in _COLUMNS] + ["*" if r["id"] in front else ""])
        else:
            rows.append([r["id"], f"{r['status']}: {r.get('reason', '')}"])
    widths = [max(len(row[i]) for row in rows if i < len(row) and len(row) > 2) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        if len(row) == 2:
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]}")
        else:
            lines.append("  ".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def write_report(records: list[dict], out_dir: str | Path, title: str) -> Path:
    """Write `plots/*.png` and `report.html` under `out_dir`; returns the report's path."""
    out = Path(out_dir)
    (out / PLOTS_FOLDER).mkdir(exist_ok=True)
    images = []
    for name, draw in PLOTS.items():
        png = draw(records)
        atomic_write(out / PLOTS_FOLDER / name, png)
        images.append(f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
                      f'<figcaption>{PLOTS_FOLDER}/{name}</figcaption></figure>')
    front = pareto_front(records)
    head = "".join(f"<th>{t}</th>" for _, t in _COLUMNS) + "<th>Pareto</th>"
    rows = []
    for r in records:
        if r.get("status") == "ok":
            cells = "".join(f"<td>{_cell(k, r.get(k))}</td>" for k, _ in _COLUMNS)
            mark = "&#9733;" if r["id"] in front else ""
            rows.append(f'<tr class="{"front" if mark else ""}">{cells}<td>{mark}</td></tr>')
        else:
            rows.append(f"<tr><td>{html.escape(r['id'])}</td><td colspan='{len(_COLUMNS)}'>"
                        f"{html.escape(r['status'])}: {html.escape(r.get('reason', ''))}</td></tr>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>snncc sweep: {html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} td:first-child{{text-align:left}}
tr.front{{background:#eef7ee}} figure{{display:inline-block;margin:1em}}</style></head>
<body><h1>snncc sweep: {html.escape(title)}</h1>
<p>One row per (coding, option) point; &#9733; marks the Pareto front of accuracy against spikes per sample.</p>
<table><tr>{head}</tr>
{chr(10).join(rows)}
</table>
{chr(10).join(images)}
</body></html>
"""
    atomic_write(out / REPORT_FILE, page)
    return out / REPORT_FILE
