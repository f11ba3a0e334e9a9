"""Accuracy and spike table of the low-latency codings `bits` and `signed` next to `rate` on the bundled models
(docs/low_latency.md quotes its output).

For every bundled model present: the ANN accuracy (onnxruntime on the ONNX file), then for each coding and each T
the compiled SNN simulated on the test split (bits: windowed schedule, T steps per layer; signed and rate:
concurrent schedule, T steps in all): accuracy, loss against the ANN in points, agreement with the ANN's
predictions, spikes per sample and latency in steps. QCFS models need no data (match-qcfs gives theta); ReLU models
are balanced on the bundled calibration split (channel-wise 99.99th percentile, the default of every coding) and,
at T <= 8, calibrated by calibrate-snn unless --no-calibrate-snn (the tables in docs/low_latency.md were made without
it; benchmarks/calibrate_snn_table.py prints before/after).

    python benchmarks/low_latency_table.py [--models digits_cnn_qcfs2,digits_cnn_qcfs15] [--timesteps 1,2,4,8]
                                           [--codings bits,signed,rate] [--limit N] [--model-dir DIR]
                                           [--no-calibrate-snn]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

import snncc
from snncc.backends.simulator import simulate

ROOT = Path(__file__).resolve().parent.parent
MODELS = {  # model -> (calibration file, test file)
    "digits_cnn_qcfs2": ("digits_calib", "digits_test"),
    "digits_cnn_qcfs15": ("digits_calib", "digits_test"),
    "digits_mlp": ("digits_calib", "digits_test"),
    "digits_cnn": ("digits_calib", "digits_test"),
    "mnist_cnn": ("mnist_calib", "mnist_test"),
}


def load(name: str) -> dict[str, np.ndarray]:
    data = np.load(ROOT / "models" / "data" / f"{name}.npz")
    return {k: data[k] for k in data.files}


def qcfs_levels(graph) -> str:
    """The levels L of the model's QCFS activations after match-qcfs (`-` for a ReLU model)."""
    levels = sorted({n.levels for n in graph.nodes if n.op == "qcfs"})
    return ",".join(str(v) for v in levels) or "-"


def rows_for(model: str, folder: Path, codings: list[str], steps: list[int], limit: int | None,
             calibrate_snn: bool | None = None):
    """One table row per (coding, T) and the model's summary."""
    calib_name, test_name = MODELS[model]
    path = folder / f"{model}.onnx"
    test, calib = load(test_name), load(calib_name)
    x, y = test["x"].astype(np.float32), test["y"]
    if limit:
        x, y = x[:limit], y[:limit]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ann = session.run(None, {session.get_inputs()[0].name: x})[0].argmax(-1)
    imported = snncc.compile(str(path), pipeline="match-qcfs")
    info = {"model": model, "ann": float(np.mean(ann == y)), "levels": qcfs_levels(imported), "n": len(x)}
    rows = []
    for coding in codings:
        for t in steps:
            graph = snncc.compile(str(path), coding, timesteps=t, calibration=calib["x"], calibrate_snn=calibrate_snn)
            result = simulate(graph, x, t)
            acc = float(np.mean(result.predictions[t] == y))
            rows.append({"coding": coding, "T": t, "acc": acc, "loss": 100 * (info["ann"] - acc),
                         "agree": float(np.mean(result.predictions[t] == ann)),
                         "spikes": result.spikes_per_sample, "latency": result.latency_steps})
    return rows, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--timesteps", default="1,2,4,8")
    parser.add_argument("--codings", default="bits,signed,rate")
    parser.add_argument("--limit", type=int, default=None, help="first N test samples only")
    parser.add_argument("--model-dir", default=str(ROOT / "models"), help="folder with MODEL.onnx (default models/)")
    parser.add_argument("--no-calibrate-snn", action="store_true", help="compile without calibrate-snn")
    args = parser.parse_args(argv)
    steps = [int(v) for v in args.timesteps.split(",")]
    codings = [c.strip() for c in args.codings.split(",")]
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        if model not in MODELS:
            parser.error(f"unknown model {model}; known: {', '.join(MODELS)}")
        folder = Path(args.model_dir)
        if not (folder / f"{model}.onnx").is_file():
            print(f"\n{model}: {folder / model}.onnx is not there (train it with models/train_digits.py); skipped")
            continue
        calibrate = False if args.no_calibrate_snn else None
        rows, info = rows_for(model, folder, codings, steps, args.limit, calibrate)
        print(f"\n### {model} (QCFS L = {info['levels']}; ANN accuracy {100 * info['ann']:.2f}% on "
              f"{info['n']} test samples)\n")
        print("| coding | T | SNN acc % | loss vs ANN (points) | agree with ANN % | spikes / sample | latency (steps) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['coding']} | {r['T']} | {100 * r['acc']:.2f} | {r['loss']:+.2f} | {100 * r['agree']:.2f} | "
                  f"{r['spikes']:.1f} | {r['latency']} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
