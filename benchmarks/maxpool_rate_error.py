"""Error of the rate-coded MaxPool (the ReLU tree of maxpool-to-relu-tree) against the max of its input rates, per T
(README and docs quote its output).

For each MaxPool of a bundled CNN (mnist_cnn; digits_cnn pools by averaging) compiled with --coding rate (no
calibrate-snn, no fold-out-scale so that every value is in the ANN's units): simulate the test samples once, record
at every checkpoint T the decoded pool output m = (1/T) sum_t tree(t) and the decoded rates r of the pool's input
population, and compare m with maxpool(r) over every output of every pool: mean and max |m - maxpool(r)| (and the
max relative to the pool input's theta), the fraction of outputs that differ (|diff| > 1e-6), the mean signed
difference (the bias; > 0: the tree overestimates the max) and the mean of maxpool(r) for scale. The accuracy column
is the SNN's at T on the same samples (the ANN's from onnxruntime on the source model).

    python benchmarks/maxpool_rate_error.py [--models mnist_cnn] [--timesteps 4,8,16,32,64,128]
                                            [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

import snncc
from snncc.pipeline import pipeline_for
from snncc.backends.simulator import simulate
from snncc.ir import MaxPool

ROOT = Path(__file__).resolve().parent.parent


def pool_errors(model: str, steps: list[int], limit: int | None) -> tuple[float, list[dict]]:
    """(ANN accuracy, one row per T) for `models/<model>.onnx` on the first `limit` test samples."""
    path = ROOT / "models" / f"{model}.onnx"
    prefix = model.split("_")[0]
    calib = np.load(ROOT / "models" / "data" / f"{prefix}_calib.npz")["x"]
    test = np.load(ROOT / "models" / "data" / f"{prefix}_test.npz")
    x, y = test["x"].astype(np.float32)[:limit], test["y"][:limit]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ann = float(np.mean(session.run(None, {session.get_inputs()[0].name: x})[0].argmax(-1) == y))
    pipeline = pipeline_for("rate", timesteps=max(steps), has_calibration=True, calibrate_snn=False)
    before_tree = pipeline[:pipeline.index(",maxpool-to-relu-tree")]
    pools = [n for n in snncc.compile(str(path), calibration=calib, pipeline=before_tree).nodes
             if isinstance(n, MaxPool)]
    if not pools:
        raise SystemExit(f"{model} has no MaxPool (digits_cnn pools by averaging); mnist_cnn has three")
    graph = snncc.compile(str(path), calibration=calib, pipeline=pipeline.replace(",fold-out-scale", ""))
    watched = [p.name for p in pools] + [p.inputs[0] for p in pools]
    graph = graph.with_(outputs=tuple(graph.outputs) + tuple(dict.fromkeys(watched)))
    result = simulate(graph, x, steps)
    rows = []
    for t in steps:
        diffs, reference, relative = [], [], []
        for pool in pools:
            expected = pool.evaluate([result.all_outputs[pool.inputs[0]][t]], {})
            diff = result.all_outputs[pool.name][t] - expected
            diffs.append(diff.reshape(-1))
            reference.append(expected.reshape(-1))
            relative.append((diff / graph.constants[graph.node(pool.inputs[0]).theta]).reshape(-1))
        d, r, rel = np.concatenate(diffs), np.concatenate(reference), np.concatenate(relative)
        rows.append({"T": t, "acc": float(np.mean(result.predictions[t] == y)), "mean": float(np.abs(d).mean()),
                     "max": float(np.abs(d).max()),
                     "max_rel": float(np.abs(rel).max()), "differ": float(np.mean(np.abs(d) > 1e-6)),
                     "bias": float(d.mean()), "scale": float(r.mean())})
    return ann, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mnist_cnn")
    parser.add_argument("--timesteps", default="4,8,16,32,64,128")
    parser.add_argument("--limit", type=int, default=None, help="first N test samples only")
    args = parser.parse_args(argv)
    steps = sorted(int(v) for v in args.timesteps.split(","))
    for model in args.models.split(","):
        ann, rows = pool_errors(model, steps, args.limit)
        print(f"\n### {model} (ANN, onnxruntime: {100 * ann:.2f}%; rate coding, every MaxPool output)\n")
        print("| T | SNN acc % | mean abs err | max abs err | max err / theta | outputs differing % | "
              "mean signed err (bias) | mean max(r) |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['T']} | {100 * r['acc']:.2f} | {r['mean']:.4f} | {r['max']:.3f} | {r['max_rel']:.3f} | "
                  f"{100 * r['differ']:.2f} | {r['bias']:+.4f} | {r['scale']:.3f} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
