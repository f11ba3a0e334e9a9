"""`snncc eval`: simulate a compiled SNN on a data set next to the ANN it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snncc.compiler import file_sha256
from snncc.data import Dataset
from snncc.ir import Graph
from snncc.non_spiking import non_spiking_products, products_note


@dataclass
class EvalReport:
    """Everything `snncc eval` prints. Accuracies are fractions in [0, 1]; None where labels or the ANN are absent."""

    timesteps: list[int]
    samples: int
    ann_accuracy: float | None
    snn_accuracy: dict[int, float | None]
    agreement: dict[int, float | None]
    spikes_per_sample: float
    synops_per_sample: float
    energy_ratio: dict[int, float]      # ANN energy / SNN energy at each T (45 nm figures; see `simulate`)
    spikes_per_layer: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    schedule: str = "concurrent"
    latency_steps: int = 0
    pipeline_interval_steps: int = 0
    non_spiking_products: int = 0      # mul nodes: analog products of two activations (squeeze-excitation)
    spikes_per_neuron: float = 0.0
    engine: str = "numpy"
    threads: int = 1

    def to_json(self) -> dict:
        single = len(self.timesteps) == 1
        pick = (lambda d: d[self.timesteps[0]]) if single else (lambda d: {str(k): v for k, v in d.items()})
        return {"timesteps": self.timesteps[0] if single else self.timesteps, "samples": self.samples,
                "ann_accuracy": self.ann_accuracy, "snn_accuracy": pick(self.snn_accuracy),
                "agreement": pick(self.agreement), "spikes_per_sample": self.spikes_per_sample,
                "synops_per_sample": self.synops_per_sample, "energy_ratio": pick(self.energy_ratio),
                "spikes_per_layer": self.spikes_per_layer, "notes": self.notes, "schedule": self.schedule,
                "latency_steps": self.latency_steps, "pipeline_interval_steps": self.pipeline_interval_steps,
                "non_spiking_products": self.non_spiking_products,
                "spikes_per_neuron": self.spikes_per_neuron,
                "engine": self.engine, "threads": self.threads}


def _accuracy(pred: np.ndarray, data: Dataset) -> float | None:
    if data.y is None:
        return None
    hits = pred == data.y
    if data.mask is not None:
        hits = hits[..., data.mask] if hits.ndim > 1 else hits[data.mask]
    return float(np.mean(hits))


def ann_reference(graph: Graph, x: np.ndarray, notes: list[str], progress: bool = False) -> np.ndarray | None:
    """ANN logits from onnxruntime on the source model recorded in the header (if present and unchanged)."""
    from snncc.limits import max_bytes

    source = graph.meta.get("source")
    if not source or not Path(source).is_file():
        notes.append(f"source model {source!r} not found: no ANN reference")
        return None
    if Path(source).stat().st_size > max_bytes():   # never hash (nor read) more than a model may be
        notes.append(f"source model {source} is larger than the memory cap: no ANN reference")
        return None
    if graph.meta.get("source_sha256") and file_sha256(source) != graph.meta["source_sha256"]:
        notes.append(f"source model {source} changed since compilation (SHA-256 differs): no ANN reference")
        return None
    from snncc.errors import SnnccError
    from snncc.frontend.load import run_onnxruntime

    try:
        from snncc.frontend.cut import parse_outputs

        return run_onnxruntime(source, x, progress=progress, outputs=parse_outputs(graph.meta.get("outputs")))
    except SnnccError as exc:
        notes.append(f"no ANN reference: {exc}")
        return None


def check_labels(graph: Graph, data: Dataset) -> None:
    """DataError unless the labels fit the graph's output: one label per prediction (shape (N,) for class scores
    (C,), (N, nodes) for per-node scores (nodes, C)) and every label a class index in [0, C)."""
    from snncc.errors import DataError

    if data.y is None or len(graph.outputs) != 1:
        return
    shape = graph.node(graph.outputs[0]).type.shape
    wanted = (len(data.x), *shape[:-1])
    if tuple(data.y.shape) != wanted:
        raise DataError(f"labels 'y' have shape {list(data.y.shape)} but the model's output %{graph.outputs[0]} "
                        f"{list(shape)} gives predictions of shape {list(wanted)}; y holds one class index per "
                        "prediction")
    classes = shape[-1]
    scored = data.y if data.mask is None else data.y[..., data.mask]   # unscored labels may be placeholders
    bad = scored[(scored < 0) | (scored >= classes)]
    if bad.size:
        raise DataError(f"labels 'y' hold {bad.size} value(s) outside [0, {classes}) (e.g. {int(bad[0])}); the "
                        f"model's output %{graph.outputs[0]} has {classes} classes")


def check_float32_range(graph: Graph, x: np.ndarray, timesteps: int, input_coding: str = "analog") -> None:
    """DataError when data as large as x's largest |value| could overflow float32 in some value, membrane or output
    sum of the simulated network over `timesteps` steps (x = 3e38 passes the finite check but makes membranes inf
    and the result garbage); the bound is sound (snncc.float32_range), the message names the node and the largest
    |x| that is safe. Poisson input reads x as probabilities clipped to [0, 1]."""
    from snncc.errors import DataError
    from snncc.float32_range import max_abs_rows, range_check, round_down

    if len(x) == 0:
        return
    top = min(max_abs_rows(x), 1.0) if input_coding == "poisson" else max_abs_rows(x)
    check = range_check(graph, timesteps)
    overflow = check.first_overflow(top)
    if overflow is None:
        return
    safe = check.safe_input_bound()
    where = {"membrane": "the membrane of", "value": "the value of", "output sum": "the output sum of"}[overflow.where]
    if safe == 0.0:
        raise DataError(f"the compiled network can overflow float32 in {where} %{overflow.name} ({overflow.op}) "
                        f"over T={timesteps} steps whatever the input (bound {overflow.bound:.3g}); recompile it "
                        "with fewer steps or phases")
    raise DataError(f"the data ('x' up to {top:.3g} in magnitude) could overflow float32 in {where} "
                    f"%{overflow.name} ({overflow.op}) over T={timesteps} steps (bound {overflow.bound:.3g}); "
                    f"inputs up to {round_down(safe)} in magnitude are safe: scale the data to the range the model "
                    "was trained on")


def evaluate(graph: Graph, data: Dataset, timesteps: list[int], *, input_coding: str = "analog", seed: int = 0,
             batch_size: int = 256, progress: bool = False, engine: str = "numpy") -> EvalReport:
    from snncc.backends.simulator import simulate

    check_labels(graph, data)
    check_float32_range(graph, data.x, max(timesteps), input_coding)
    notes: list[str] = []
    products = products_note(graph)    # --coding amos: products (x * sigmoid(s)) kept as analog multiplies
    if products:
        notes.append(products)
    ann_logits = ann_reference(graph, data.x, notes, progress)
    ann_pred = None if ann_logits is None else ann_logits.argmax(-1)
    result = simulate(graph, data.x, timesteps, input_coding=input_coding, seed=seed, batch_size=batch_size,
                      progress=progress, engine=engine)
    snn_acc, agree = {}, {}
    for t in timesteps:
        pred = result.predictions[t]
        snn_acc[t] = _accuracy(pred, data)
        agree[t] = None if ann_pred is None else float(np.mean(pred == ann_pred))
    return EvalReport(timesteps=list(timesteps), samples=len(data.x),
                      ann_accuracy=None if ann_pred is None else _accuracy(ann_pred, data),
                      snn_accuracy=snn_acc, agreement=agree, spikes_per_sample=float(result.spikes_per_sample),
                      synops_per_sample=float(result.synops_per_sample),
                      energy_ratio={t: float(result.energy_ratio_at[t]) for t in timesteps},
                      spikes_per_layer={k: float(v) for k, v in result.spikes_per_layer.items()}, notes=notes,
                      schedule=graph.meta.get("schedule", "concurrent"), latency_steps=int(result.latency_steps),
                      pipeline_interval_steps=int(result.pipeline_interval_steps),
                      non_spiking_products=len(non_spiking_products(graph)),
                      spikes_per_neuron=spikes_per_neuron(graph, float(result.spikes_per_sample)),
                      engine=result.engine, threads=result.threads)


def spikes_per_neuron(graph: Graph, spikes_per_sample: float) -> float:
    """Mean spikes per neuron per sample over the graph's spiking nodes (TTFS: at most 1)."""
    neurons = sum(int(np.prod(n.type.shape)) for n in graph.nodes if n.spiking)
    return spikes_per_sample / neurons if neurons else 0.0


def _snn_over_ann(ratio: float) -> float:
    return 1.0 / ratio if ratio > 0 else float("inf")


def energy_words(ratio: float, t: int | None = None) -> str:
    """Which side costs more, in words: "the SNN uses 10x the ANN's energy at T=64" (ratio = ANN / SNN energy)."""
    at = "" if t is None else f" at T={t}"
    if ratio <= 0 or ratio == float("inf"):
        return f"the SNN uses no energy{at}" if ratio == float("inf") else f"the ANN uses no energy{at}"
    snn_over_ann = _snn_over_ann(ratio)
    if snn_over_ann >= 1:
        return f"the SNN uses {snn_over_ann:.3g}x the ANN's energy{at}"
    return f"the SNN uses {snn_over_ann:.3g}x the ANN's energy (the ANN {ratio:.3g}x the SNN's){at}"


def format_report(report: EvalReport) -> str:
    """A fixed-width table: one row per T."""
    pct = lambda v: "   -  " if v is None else f"{100 * v:6.2f}"  # noqa: E731
    lines = [f"samples: {report.samples}   ANN accuracy: {pct(report.ann_accuracy).strip()}%"]
    if report.schedule == "windowed":
        # a windowed coding has no free T: every layer owns a window of K steps
        key = report.timesteps[-1]
        lines.append(f"{'SNN acc %':>10} {'agree %':>8} {'SNN/ANN energy':>15}")
        lines.append(f"{pct(report.snn_accuracy[key]):>10} {pct(report.agreement[key]):>8} "
                     f"{_snn_over_ann(report.energy_ratio[key]):>14.3g}x")
        lines.append(f"latency {report.latency_steps} steps, pipelined: one sample every "
                     f"{report.pipeline_interval_steps} steps")
        words = energy_words(report.energy_ratio[key])
        at = ""
    else:
        lines.append(f"{'T':>6} {'SNN acc %':>10} {'agree %':>8} {'SNN/ANN energy':>15}")
        for t in report.timesteps:
            lines.append(f"{t:>6} {pct(report.snn_accuracy[t]):>10} {pct(report.agreement[t]):>8} "
                         f"{_snn_over_ann(report.energy_ratio[t]):>14.3g}x")
        last = max(report.timesteps)
        words = energy_words(report.energy_ratio[last], last)
        at = f" (at T={last})"
    lines.append(f"spikes/sample {report.spikes_per_sample:.1f} ({report.spikes_per_neuron:.3f} per neuron)   "
                 f"synops/sample {report.synops_per_sample:.1f}{at}")
    lines.append(f"energy: {words}")
    lines.append(f"engine {report.engine}, {report.threads} thread{'s' if report.threads != 1 else ''}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
