"""How much the spike rates `compile` records move when measured on fewer calibration rows, and what it saves.

    python benchmarks/rate_samples.py MODEL.snnir CALIB.npz [--samples 8,16,32]

Simulates the compiled IR on the first 128 rows (the reference) and on the first k rows, and prints per k the seconds
and the relative change of the populations' rates (median and largest over populations with a nonzero rate) and how
many keep the same four significant digits the header records. Measured on ppocr_cls amos (64 rows):
k=16 3.5 s against 14.2 s for 64, median 0.24 %, largest 6.8 %.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from snncc.backends.coremap.traffic import neuron_spike_counts
from snncc.data import load_npz
from snncc.ir import load


def rates(graph, x: np.ndarray, timesteps: int) -> tuple[dict[str, float], float]:
    start = time.perf_counter()
    counts = neuron_spike_counts(graph, x, timesteps)
    return {k: float(v.mean()) for k, v in counts.items()}, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("calib")
    parser.add_argument("--samples", default="8,16,32")
    args = parser.parse_args()
    graph = load(args.model)
    timesteps = int(graph.meta["timesteps"])
    x = load_npz(args.calib).x[:128]
    ref, seconds = rates(graph, x, timesteps)
    print(f"reference: {len(x)} rows {seconds:.1f} s, {len(ref)} populations")
    for k in map(int, args.samples.split(",")):
        got, seconds = rates(graph, x[:k], timesteps)
        rel = [abs(got[n] - ref[n]) / ref[n] for n in ref if ref[n] > 0] or [0.0]
        same = sum(f"{got[n]:.4g}" == f"{ref[n]:.4g}" for n in ref)
        print(f"k={k:3d} {seconds:5.1f} s  median change {100 * np.median(rel):.2f} %  largest {100 * max(rel):.2f} %"
              f"  same 4 digits {same}/{len(ref)}")


if __name__ == "__main__":
    main()
