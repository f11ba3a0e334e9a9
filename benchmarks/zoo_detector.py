"""The corpus detector (layout_cdla, PicoDet 800x608, 8 output maps) under `--coding amos`: per-output error and
per-anchor class agreement of the SNN against onnxruntime on the source model, and where the error comes from.

    python benchmarks/zoo_detector.py [--k 20] [--rest N] [--pages 16] [--compiled FILE.snnir] [--diagnose]
                                      [--simulate]

Compiles the model with the real amos pipeline on its 8 rendered calibration pages (or loads `--compiled`, or the
copy this script saved next to the corpus: `layout_cdla.amos-K<k>[-rest<N>].snnir`), then on the first `--pages`
rendered test pages prints, per output, max|SNN - ANN| / max|ANN| and, for the score maps (every value in [0, 1]),
how often the top-scoring class of each anchor agrees: on all anchors and on anchors the ANN scores >= 0.1.
The SNN is the compiled IR in ANN mode, which the simulator reproduces bit for bit (`--simulate` checks it on the
first output).

`--diagnose` lists each gate circuit's own error on the inputs it really gets (page 1): max |circuit(x) - gate(x)|
and the same error seen through the next conv/dense layer (its weights applied to the error), worst channel first.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAME = "layout_cdla"
SCORE_FLOOR = 0.1


def onnxruntime_outputs(model: Path, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    parts = [session.run(None, {name: x[i:i + 1]}) for i in range(len(x))]
    return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]


def ir_outputs(graph, x: np.ndarray) -> list[np.ndarray]:
    from snncc.ir import run
    from snncc.readout import read_output

    parts = [run(graph, x[i:i + 1]) for i in range(len(x))]
    # the score maps' Sigmoid is dropped by the frontend (the SNN computes logits): applied again, exactly, here
    return [read_output(graph.meta, j, np.concatenate([p[o] for p in parts])) for j, o in enumerate(graph.outputs)]


def compiled_graph(model: Path, calib: Path, k: int, path: Path, rest: int = 1, given: bool = False):
    import snncc
    from snncc.ir import load, save
    from snncc.pipeline import pipeline_for

    if path.is_file():
        graph = load(path)
        if graph.meta.get("sigmoid_outputs") or given:
            print(f"compiled: {path} (reused)" + ("" if graph.meta.get("sigmoid_outputs") else
                                                 "; compiled with the output Sigmoid circuits"))
            return graph
        # compiled before the score maps' Sigmoid became an output tail: its sigmoid circuits would be measured
        print(f"compiled: {path} is stale (output Sigmoid circuits, no sigmoid_outputs): recompiling")
    x = np.load(calib)["x"]
    start = time.perf_counter()
    # two 800x608 pages per calibration batch and no spike rates (unused here): 0.8 GB instead of 6 GB
    pipeline = pipeline_for("amos", phases=k, rest=rest, has_calibration=True).replace(
        "calibrate,", "calibrate{batch_size=2},")
    graph = snncc.compile(str(model), "amos", calibration=x, phases=k, rest=rest, pipeline=pipeline,
                          progress=sys.stderr.isatty(), record_spike_rates=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    save(graph, path)
    print(f"compiled: amos -K {k} --rest {rest} in {seconds:.0f} s, peak RSS so far {peak:.1f} GiB -> {path}")
    return graph


def agreement(ann: np.ndarray, snn: np.ndarray) -> tuple[float, float, int]:
    """Top-class agreement per anchor: on all anchors, on anchors the ANN scores >= SCORE_FLOOR (and their count)."""
    same = ann.argmax(-1) == snn.argmax(-1)
    confident = ann.max(-1) >= SCORE_FLOOR
    return float(same.mean()), float(same[confident].mean()) if confident.any() else float("nan"), int(confident.sum())


def report(graph, model: Path, x: np.ndarray) -> None:
    ann = onnxruntime_outputs(model, x)
    snn = ir_outputs(graph, x)
    agree_all, agree_conf, total_conf, total = [], [], 0, 0
    print(f"{'output':<22} {'shape':>14} {'max|ANN|':>9} {'max|SNN-ANN|/max|ANN|':>22} {'agree all':>10} "
          f"{'agree >=0.1':>12} {'anchors>=0.1':>13}")
    for name, a, s in zip(graph.outputs, ann, snn):
        if a.shape != s.shape:
            raise SystemExit(f"output {name}: the IR gives {s.shape}, onnxruntime {a.shape}")
        rel = float(np.abs(s - a).max() / max(np.abs(a).max(), 1e-12))
        line = f"{name:<22} {str(a.shape[1:]):>14} {np.abs(a).max():9.3g} {rel:22.4f}"
        if a.min() >= 0 and a.max() <= 1:       # a score map: one row of class scores per anchor
            every, confident, count = agreement(a, s)
            agree_all.append(every * a[..., 0].size)
            agree_conf.append(confident * count if count else 0.0)
            total += a[..., 0].size
            total_conf += count
            line += f" {100 * every:9.2f}% {100 * confident:11.2f}% {count:13d}"
        print(line)
    if total:
        print(f"top-class agreement over {len(x)} pages: {100 * sum(agree_all) / total:.2f} % of {total} anchors, "
              f"{100 * sum(agree_conf) / max(total_conf, 1):.2f} % of the {total_conf} anchors scored >= "
              f"{SCORE_FLOOR}")


def diagnose(graph, x: np.ndarray, top: int) -> None:
    from snncc.gates import get_gate
    from snncc.ir import FSNeuron, run

    values = run(graph, x[:1], keep="all")
    consumers = graph.consumers()
    nodes = graph.node_map()
    rows = []
    for node in graph.nodes:
        # a gate lowered as several circuits on one input (HardSwish = relu + rest) is summed by an add: judge the sum
        parts = [nodes[i] for i in node.inputs] if node.op == "add" else []
        if parts and all(isinstance(p, FSNeuron) and p.inputs == parts[0].inputs for p in parts):
            z = values[parts[0].inputs[0]].astype(np.float64)
            gates = list(dict.fromkeys(p.gate for p in parts))      # rest=N: N populations share one rest gate
            error = values[node.name].astype(np.float64) - sum(get_gate(g).function(z) for g in gates)
            gate = "+".join(gates) + (f"x{len(parts) - 1}" if len(parts) > len(gates) else "")
            x_range = parts[-1].x_range
        elif isinstance(node, FSNeuron) and not any(r.op == "add" and all(
                isinstance(nodes[i], FSNeuron) for i in r.inputs) for r in consumers[node.name]):
            z = values[node.inputs[0]].astype(np.float64)
            error = node.evaluate([z], graph.constants).astype(np.float64) - get_gate(node.gate).function(z)
            gate, x_range = node.gate, node.x_range
        else:
            continue
        seen = 0.0
        for reader in consumers[node.name]:
            if reader.op in ("conv", "dense") and reader.inputs[0] == node.name:
                zero_bias = {**graph.constants}
                if reader.bias is not None:
                    zero_bias[reader.bias] = np.zeros_like(np.asarray(graph.constants[reader.bias]))
                seen = max(seen, float(np.abs(reader.evaluate([error.astype(np.float32)], zero_bias)).max()))
        out_scale = max(float(np.abs(values[node.name]).max()), 1e-12)
        rows.append((node.name, gate, x_range, float(np.abs(error).max()), out_scale, seen))
    print(f"{'gate node':<24} {'gate':<19} {'fit range':>18} {'max err':>9} {'max|y|':>8} {'err via next layer':>19}")
    for name, gate, x_range, err, scale, seen in sorted(rows, key=lambda r: -r[5])[:top]:
        print(f"{name:<24} {gate:<19} {f'[{x_range[0]:.3g}, {x_range[1]:.3g}]':>18} {err:9.4f} {scale:8.3g} "
              f"{seen:19.4f}")


def main() -> None:
    from models.zoo import fetch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=20, help="amos K (-K) for every gate")
    parser.add_argument("--rest", type=int, default=1, help="amos rest populations per HardSwish (--rest)")
    parser.add_argument("--pages", type=int, default=16, help="rendered test pages to score (at most 16)")
    parser.add_argument("--compiled", type=Path, help="a compiled .snnir of the model to score instead of compiling")
    parser.add_argument("--diagnose", action="store_true", help="list the gate circuits' own errors (page 1)")
    parser.add_argument("--top", type=int, default=15, help="rows of --diagnose")
    parser.add_argument("--simulate", action="store_true", help="check the simulator against the IR (output 1)")
    args = parser.parse_args()
    folder = fetch.cache_dir()
    model = fetch.fetch_all(folder)[NAME]
    saved = args.compiled or folder / f"{NAME}.amos-K{args.k}{f'-rest{args.rest}' if args.rest != 1 else ''}.snnir"
    graph = compiled_graph(model, fetch.split_path(folder, NAME, "calib"), args.k, saved, args.rest,
                           given=args.compiled is not None)
    x = np.load(fetch.split_path(folder, NAME, "test"))["x"][:args.pages]
    if args.diagnose:
        diagnose(graph, x, args.top)
    report(graph, model, x)
    if args.simulate:
        from snncc.backends.simulator import simulate

        sim = simulate(graph, x[:1], 1).outputs[1]
        ir = ir_outputs(graph, x[:1])[0]
        print(f"simulator vs IR on output 1, page 1: max abs difference {float(np.abs(sim - ir).max()):.3g}")


if __name__ == "__main__":
    main()
