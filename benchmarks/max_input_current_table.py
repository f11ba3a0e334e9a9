"""Viet & Lee max-input-current balancing (algorithms.md §6), channel- vs layer-wise, both initial membranes, per T
(docs/low_latency.md quotes its output).

For each model: the ANN accuracy (onnxruntime on the ONNX file), then for v0 in {zero, half}, mode in {layer,
channel} and each T: the rate SNN compiled with `--stat max-input-current` (the maximum per-step input current,
measured layer by layer in the SNN with the same v0), calibrate-snn off, simulated on the test split.

    python benchmarks/max_input_current_table.py [--models digits_cnn,mnist_cnn] [--timesteps 4,8,16,32] [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort

import snncc
from snncc.backends.simulator import simulate

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="digits_cnn,mnist_cnn")
    parser.add_argument("--timesteps", default="4,8,16,32")
    parser.add_argument("--limit", type=int, default=None, help="test samples (default: all)")
    args = parser.parse_args()
    steps = [int(t) for t in args.timesteps.split(",")]
    for model in args.models.split(","):
        prefix = model.split("_")[0]
        calib = np.load(ROOT / "models" / "data" / f"{prefix}_calib.npz")["x"]
        test = np.load(ROOT / "models" / "data" / f"{prefix}_test.npz")
        x, y = test["x"][:args.limit], test["y"][:args.limit]
        path = str(ROOT / "models" / f"{model}.onnx")
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        ann = float(np.mean(session.run(None, {session.get_inputs()[0].name: x})[0].argmax(-1) == y))
        print(f"\n### {model} (ANN {100 * ann:.2f}% on {len(x)} test samples; SNN accuracy %)\n")
        print("| v0 | mode | " + " | ".join(f"T={t}" for t in steps) + " |")
        print("|---|---|" + "---:|" * len(steps))
        for v0 in ("zero", "half"):
            for mode in ("layer", "channel"):
                cells = []
                for t in steps:
                    snn = snncc.compile(path, timesteps=t, calibration=calib, stat="max-input-current",
                                        balance=mode, v0=v0, calibrate_snn=False)
                    acc = float(np.mean(simulate(snn, x, t).predictions[t] == y))
                    cells.append(f"{100 * acc:.2f}")
                print(f"| {v0} | {mode} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
