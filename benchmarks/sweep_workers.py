"""`snncc sweep` wall time on a LocalCluster of 1 and of 2 workers, for the bundled models, and the speed-up.

    python benchmarks/sweep_workers.py                                  # digits_cnn and mnist_cnn
    python benchmarks/sweep_workers.py --models models/digits_cnn.onnx --codings rate,bits --timesteps 4,8,16

Each run is a fresh sweep into a temporary folder (no --resume), cluster start-up included, so it is the time a
user waits. The records of the two runs are checked equal (timings aside). The 1-minute load average is printed
before each run: on a shared machine the speed-up is bounded by the free cores, not by the sweep.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from snncc.compiler import default_calibration_file, default_test_file  # noqa: E402
from snncc.sweep import dask_client, run_sweep  # noqa: E402
from snncc.sweep.records import TIMING_FIELDS  # noqa: E402


def timed_sweep(model: str, workers: int, args) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out, dask_client(workers=workers) as executor:
        records = run_sweep(model, str(default_test_file(model)), out, executor,
                            calib=str(default_calibration_file(model)), codings=args.codings.split(","),
                            timesteps=[int(t) for t in args.timesteps.split(",")], shard_size=args.shard_size,
                            limit=args.limit)
    return time.perf_counter() - started, [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models/digits_cnn.onnx,models/mnist_cnn.onnx")
    parser.add_argument("--codings", default="rate,phase,bits,signed")
    parser.add_argument("--timesteps", default="4,8,16")
    parser.add_argument("--shard-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=512, help="test samples per model")
    args = parser.parse_args()
    print(f"{'model':24} {'points':>6} {'1 worker s':>11} {'2 workers s':>12} {'speed-up':>9}  load avg")
    for model in args.models.split(","):
        load = os.getloadavg()[0]
        one, records_one = timed_sweep(model, 1, args)
        two, records_two = timed_sweep(model, 2, args)
        assert records_one == records_two, "1- and 2-worker sweeps differ"
        print(f"{os.path.basename(model):24} {len(records_one):>6} {one:>11.1f} {two:>12.1f} {one / two:>8.2f}x  "
              f"{load:.1f}")


if __name__ == "__main__":
    main()
