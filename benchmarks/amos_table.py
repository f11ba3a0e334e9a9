"""`--coding amos` on the bundled models: accuracy next to the ANN, spikes per neuron and latency, per K.

    python benchmarks/amos_table.py [--models digits_silu,mnist_cnn] [--ks default,6,8,10,12,14,16] [--limit N]

For each model and K ("default" = each gate's own K: ReLU 10, sigmoid 12, SiLU 16) it compiles the model with the
real pipeline on its bundled calibration set, simulates the SNN on the bundled test set and prints one row:
ANN accuracy (onnxruntime), SNN accuracy, the loss in points, agreement with the ANN, the SNN's agreement with the
circuit ANN (the IR in ANN mode: must be 100%), mean spikes per gate neuron per sample, the largest spike count of
any neuron, latency and pipeline interval in steps, and the compile time (refits of gates outside the shipped
table included). Models that are not in models/ are listed as missing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import snncc
from snncc.backends.simulator import simulate
from snncc.data import load_npz
from snncc.frontend.load import run_onnxruntime
from snncc.ir import FSNeuron, run

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def test_file(model: Path) -> Path:
    return model.parent / "data" / f"{model.stem.split('_')[0]}_test.npz"


def gate_units(graph) -> int:
    return sum(n.type.size for n in graph.nodes if isinstance(n, FSNeuron))


def row(model: Path, k, x_calib, data) -> dict:
    start = time.perf_counter()
    graph = snncc.compile(str(model), "amos", calibration=x_calib, phases=None if k == "default" else int(k))
    compile_s = time.perf_counter() - start
    ann = run_onnxruntime(str(model), data.x).argmax(-1)
    result = simulate(graph, data.x, 1)
    snn = result.predictions[1]
    circuit = np.concatenate([run(graph, data.x[i:i + 256])[graph.outputs[0]].argmax(-1)
                              for i in range(0, len(data.x), 256)])
    ann_acc = float(np.mean(ann == data.y))
    snn_acc = float(np.mean(snn == data.y))
    return {"model": model.stem, "K": k, "ann": 100 * ann_acc, "snn": 100 * snn_acc,
            "loss": 100 * (ann_acc - snn_acc), "agree": 100 * float(np.mean(snn == ann)),
            "circuit": 100 * float(np.mean(snn == circuit)),
            "spikes": result.spikes_per_sample / max(gate_units(graph), 1),
            "max_spikes": result.max_spikes_per_neuron, "latency": result.latency_steps,
            "interval": result.pipeline_interval_steps, "compile_s": compile_s,
            "non_spiking": graph.meta.get("amos_non_spiking", "")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="digits_silu,mnist_cnn")
    parser.add_argument("--ks", default="default,6,8,10,12,14,16")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N test samples")
    args = parser.parse_args()
    header = (f"{'model':<14} {'K':>7} {'ANN %':>7} {'SNN %':>7} {'loss':>6} {'agree %':>8} {'=circ %':>8} "
              f"{'spk/neur':>9} {'max spk':>8} {'latency':>8} {'interval':>8} {'compile s':>9}")
    print(header)
    print("-" * len(header))
    for name in args.models.split(","):
        model = MODELS / f"{name}.onnx"
        if not model.is_file():
            print(f"{name:<14} missing ({model} not found)")
            continue
        x_calib = load_npz(snncc.default_calibration_file(model)).x
        data = load_npz(test_file(model))
        if args.limit:
            data = type(data)(data.x[:args.limit], data.y[:args.limit], data.mask)
        notes = set()
        for k in args.ks.split(","):
            r = row(model, k, x_calib, data)
            if r["non_spiking"]:
                notes.add(r["non_spiking"])
            print(f"{r['model']:<14} {r['K']:>7} {r['ann']:7.2f} {r['snn']:7.2f} {r['loss']:6.2f} {r['agree']:8.2f} "
                  f"{r['circuit']:8.2f} {r['spikes']:9.3f} {r['max_spikes']:8d} {r['latency']:8d} {r['interval']:8d} "
                  f"{r['compile_s']:9.1f}", flush=True)
        for note in sorted(notes):
            print(f"{'':<14} non-spiking mul nodes (analog products): {note}")


if __name__ == "__main__":
    main()
