"""Accuracy and spike table of `--coding phase` on the bundled models (docs/phase.md quotes its output).

For every bundled model present: the ANN accuracy (onnxruntime), then the phase-coded SNN (simulated, windowed
schedule) for K in 4, 6, 8, 12 with B = 2, the searched base, or base and theta searched together, with and without
the threshold shift, multi-spike (B = 2) at each K, and layer- vs channel-wise theta at K = 8; and rate coding at the
smallest T whose accuracy reaches the phase SNN's (K = 8, searched base, shift), to compare spikes per sample at equal accuracy. Simulation
times are medians of 3 runs, phase K = 8 and rate at that T side by side.

    python benchmarks/phase_table.py [--models digits_cnn,mnist_cnn] [--limit N] [--phases 4,6,8,12] [--rate-t 4,8,..]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import snncc
from snncc.backends.simulator import simulate
from snncc.evaluate import ann_reference
from bundled_models import MODELS, load, score  # benchmarks/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
RATE_T = (4, 8, 16, 32, 64, 128, 256, 512)


def phase_row(model, calib, x, y, mask, **options):
    graph = snncc.compile(str(model), "phase", calibration=calib, **options)
    result = simulate(graph, x, 1)
    bases = sorted({n.base for n in graph.nodes if n.op == "phase_neuron"})
    return graph, result, score(result.predictions[1], y, mask), bases


def median_seconds(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--limit", type=int, default=None, help="use the first N test samples")
    parser.add_argument("--phases", default="4,6,8,12")
    parser.add_argument("--rate-t", default=",".join(map(str, RATE_T)), help="rate-coding T values to sweep")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.phases.split(",")]
    rate_ts = [int(t) for t in args.rate_t.split(",")]
    for name in args.models.split(","):
        model = ROOT / "models" / f"{name}.onnx"
        if not model.is_file():
            print(f"## {name}: models/{name}.onnx not found, skipped\n")
            continue
        calib_name, test_name, mask_key = MODELS[name]
        calib = load(calib_name)["x"]
        test = load(test_name)
        x, y = test["x"][:args.limit], test["y"][:args.limit]
        mask = test[mask_key] if mask_key else None
        notes: list[str] = []
        probe = snncc.compile(str(model), "phase", calibration=calib, base=2.0)
        ann_logits = ann_reference(probe, x, notes)
        ann_pred = ann_logits.argmax(-1)
        ann = score(ann_pred, y, mask)
        print(f"## {name}  (ANN accuracy {100 * ann:.2f}%, {len(x)} test samples{', masked' if mask_key else ''})\n")
        print("| K | base | shift | acc % | loss (pt) | differs from ANN | spikes/sample | SynOps/sample | "
              "latency (steps) | bases chosen |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        reference = None
        for k in ks:
            for base, shift, theta in ((2.0, False, False), (2.0, True, False), (None, False, False),
                                       (None, True, False), (None, True, True)):
                label = "2" if base else ("searched + theta" if theta else "searched")
                try:
                    graph, result, acc, bases = phase_row(model, calib, x, y, mask, phases=k, base=base,
                                                          threshold_shift=shift, search_theta=theta)
                except snncc.SnnccError as exc:
                    print(f"| {k} | {label} | {'on' if shift else 'off'} | error: {exc} |")
                    continue
                differs = int(np.sum(result.predictions[1] != ann_pred))
                print(f"| {k} | {label} | {'on' if shift else 'off'} | {100 * acc:.2f} | "
                      f"{100 * (ann - acc):+.2f} | {differs} | {result.spikes_per_sample:.1f} | "
                      f"{result.synops_per_sample:.0f} | {graph.meta['latency_steps']} | "
                      f"{'/'.join(f'{b:g}' for b in bases)} |")
                if k == 8 and base is None and shift and not theta:
                    reference = (acc, result.spikes_per_sample, result.synops_per_sample, graph)
            graph, result, acc, _ = phase_row(model, calib, x, y, mask, phases=k, multi_spike=True)
            print(f"| {k} | 2 (multi-spike) | floor | {100 * acc:.2f} | {100 * (ann - acc):+.2f} | "
                  f"{int(np.sum(result.predictions[1] != ann_pred))} | {result.spikes_per_sample:.1f} | "
                  f"{result.synops_per_sample:.0f} | {graph.meta['latency_steps']} | 2 |")
        for balance in ("layer", "channel"):
            graph, result, acc, bases = phase_row(model, calib, x, y, mask, balance=balance)
            print(f"\nK=8, searched base, shift, theta {balance}-wise: {100 * acc:.2f}% "
                  f"({result.spikes_per_sample:.1f} spikes/sample)", end="")
        print("\n")
        if reference is None:
            continue
        acc8, spikes8, synops8, graph8 = reference
        rate = snncc.compile(str(model), "rate", calibration=calib, timesteps=max(rate_ts))
        matched = None
        print("| rate T | acc % | spikes/sample | SynOps/sample |\n|---|---|---|---|")
        for t in rate_ts:
            r = simulate(rate, x, t)
            acc = score(r.predictions[t], y, mask)
            print(f"| {t} | {100 * acc:.2f} | {r.spikes_per_sample:.1f} | {r.synops_per_sample:.0f} |")
            if acc >= acc8:
                matched = (t, acc, r.spikes_per_sample, r.synops_per_sample)
                break
        if matched is None:
            print(f"\nrate coding does not reach the phase SNN's {100 * acc8:.2f}% within T = {max(rate_ts)}\n")
            continue
        t, acc, spikes, synops = matched
        phase_time = median_seconds(lambda: simulate(graph8, x, 1))
        rate_time = median_seconds(lambda: simulate(rate, x, t))
        print(f"\nequal accuracy: phase K=8 {100 * acc8:.2f}% with {spikes8:.1f} spikes/sample "
              f"({synops8:.0f} SynOps, latency {graph8.meta['latency_steps']} steps) vs rate T={t} "
              f"{100 * acc:.2f}% with {spikes:.1f} spikes/sample ({synops:.0f} SynOps): "
              f"{spikes / max(spikes8, 1e-9):.1f}x fewer spikes")
        print(f"simulation time for {len(x)} samples (median of 3): phase {phase_time:.3f} s, rate T={t} "
              f"{rate_time:.3f} s\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
