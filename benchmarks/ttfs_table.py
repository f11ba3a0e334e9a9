"""Accuracy, spikes per neuron and latency of `--coding ttfs` next to rate (T = 32), phase and bits on the bundled
ReLU models (docs/ttfs.md quotes its output).

Every coding is compiled with its defaults (ttfs K = 16, phase K = 8 with the searched base, bits T = 4, rate
T = 32 channel-wise 99.99th percentile) and simulated on the model's whole test split; accuracy is compared with
onnxruntime on the source ONNX model. Spikes per neuron: spikes per sample / neurons of the spiking nodes. Latency:
steps until the output is complete (windowed codings: the sum of the windows on the longest path; rate: T).
TTFS is also run at the K values of --ks.

    python benchmarks/ttfs_table.py [--models digits_cnn,mnist_cnn] [--ks 4,8,16,32] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import snncc
from snncc.backends.simulator import simulate
from snncc.evaluate import ann_reference, spikes_per_neuron
from bundled_models import MODELS, load, score  # benchmarks/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
RATE_T = 32


def row(label, model, coding, calib, x, y, mask, ann, ann_pred, **options):
    try:
        graph = snncc.compile(str(model), coding, calibration=calib, **options)
    except snncc.SnnccError as exc:
        return f"| {label} | error: {str(exc).splitlines()[0]} | | | | | |"
    t = int(options.get("timesteps", 1))
    result = simulate(graph, x, t)
    acc = score(result.predictions[t], y, mask)
    latency = result.latency_steps if graph.meta.get("schedule") == "windowed" else t
    per_neuron = spikes_per_neuron(graph, result.spikes_per_sample)
    differs = result.predictions[t] != ann_pred
    differs = int(np.sum(differs[..., mask] if mask is not None else differs))
    return (f"| {label} | {100 * acc:.2f} | {100 * (acc - ann):+.2f} | {differs} | {per_neuron:.3f} | {latency} | "
            f"{result.max_spikes_per_neuron} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--ks", default="4,8,16,32", help="TTFS steps per window to sweep")
    parser.add_argument("--limit", type=int, default=None, help="use the first N test samples")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",")]
    for name in args.models.split(","):
        model = ROOT / "models" / f"{name}.onnx"
        calib_name, test_name, mask_key = MODELS[name]
        calib = load(calib_name)["x"]
        test = load(test_name)
        x, y = test["x"][:args.limit], test["y"][:args.limit]
        mask = test[mask_key] if mask_key else None
        probe = snncc.compile(str(model), "ttfs", calibration=calib)
        ann_pred = ann_reference(probe, x, []).argmax(-1)
        ann = score(ann_pred, y, mask)
        print(f"## {name}  (ANN accuracy {100 * ann:.2f}% by onnxruntime, {len(x)} test samples"
              f"{', masked' if mask_key else ''})\n")
        print("| coding | acc % | vs ANN (pt) | predictions differing from ANN | spikes/neuron | latency (steps) | "
              "max spikes/neuron |")
        print("|---|---|---|---|---|---|---|")
        for k in ks:
            print(row(f"ttfs K={k}{' (default)' if k == 16 else ''}", model, "ttfs", calib, x, y, mask, ann, ann_pred,
                      phases=k))
        print(row(f"rate T={RATE_T}", model, "rate", calib, x, y, mask, ann, ann_pred, timesteps=RATE_T))
        print(row("phase K=8", model, "phase", calib, x, y, mask, ann, ann_pred))
        print(row("bits T=4", model, "bits", calib, x, y, mask, ann, ann_pred, timesteps=4))
        print()
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
