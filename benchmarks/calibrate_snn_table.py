"""Before/after table of calibrate-snn (docs/low_latency.md quotes its output): rate and signed coding on the bundled
ReLU models at low T, compiled with --no-calibrate-snn and with --calibrate-snn, simulated on the test split.
Accuracy is next to the ANN's, measured by onnxruntime on the source ONNX model.

    python benchmarks/calibrate_snn_table.py [--models digits_cnn,digits_resnet,mnist_cnn] [--timesteps 1,2,4,8]
                                             [--codings rate,signed] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import snncc
from snncc.backends.simulator import simulate

ROOT = Path(__file__).resolve().parent.parent


def data(model: str, split: str) -> np.lib.npyio.NpzFile:
    return np.load(ROOT / "models" / "data" / f"{model.split('_')[0]}_{split}.npz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="digits_cnn,digits_resnet,mnist_cnn")
    parser.add_argument("--timesteps", default="1,2,4,8")
    parser.add_argument("--codings", default="rate,signed")
    parser.add_argument("--limit", type=int, default=None, help="first N test samples only")
    args = parser.parse_args(argv)
    steps = [int(v) for v in args.timesteps.split(",")]
    for model in args.models.split(","):
        path = ROOT / "models" / f"{model}.onnx"
        test, calib = data(model, "test"), data(model, "calib")["x"]
        x, y = test["x"].astype(np.float32)[:args.limit], test["y"][:args.limit]
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        ann = float(np.mean(session.run(None, {session.get_inputs()[0].name: x})[0].argmax(-1) == y))
        print(f"\n### {model} (ANN, onnxruntime: {100 * ann:.2f}% on {len(x)} test samples)\n")
        print("| coding | T | before % | after % | gap to ANN after (points) | calibrate-snn compile s |")
        print("|---|---:|---:|---:|---:|---:|")
        for coding in args.codings.split(","):
            for t in steps:
                acc = {}
                for on in (False, True):
                    start = time.perf_counter()
                    graph = snncc.compile(str(path), coding, timesteps=t, calibration=calib, calibrate_snn=on)
                    seconds = time.perf_counter() - start
                    acc[on] = float(np.mean(simulate(graph, x, t).predictions[t] == y))
                print(f"| {coding} | {t} | {100 * acc[False]:.2f} | {100 * acc[True]:.2f} | "
                      f"{100 * (ann - acc[True]):+.2f} | {seconds:.1f} |")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
