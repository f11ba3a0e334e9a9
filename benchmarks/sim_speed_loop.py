"""The ort engine's two ways of stepping in time, side by side (`python benchmarks/sim_speed.py --loop`).

    python   one `run_with_iobinding` per step from Python, the state in two bound NumPy buffer sets
    Loop     the step model as the body of an ONNX Loop: the steps between two checkpoints in one call

Rate coding (compiled at T = 32 with the model's calibration set), analog input, the bundled CNNs, T and batch as
given (256 samples at batch > 1, 16 at batch 1), the two interleaved within each repeat; samples/s are medians.
Each configuration also checks that both give the same outputs (`same`).

Memory: peak resident set during the run (Linux VmHWM, reset after the warm-up) of a fresh process that loads the
compiled mnist_cnn and runs 256 samples at batch 256 on the ort engine at T = 8 and T = 64, per stepping mode;
`growth` is that peak minus the RSS before the run (it must not grow with T: neither mode keeps per-step values).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = {"digits_cnn": "digits", "mnist_cnn": "mnist"}
MODES = (("python", False), ("Loop", True))


def _compiled(name: str):
    import snncc

    calib = np.load(ROOT / "models" / "data" / f"{DATA[name]}_calib.npz")["x"]
    return snncc.compile(str(ROOT / "models" / f"{name}.onnx"), "rate", timesteps=32, calibration=calib,
                         record_spike_rates=False)


def _samples(name: str, batch: int) -> np.ndarray:
    x = np.load(ROOT / "models" / "data" / f"{DATA[name]}_test.npz")["x"]
    n = 256 if batch > 1 else 16
    return np.concatenate([x] * -(-n // len(x)))[:n].astype(np.float32)


def bench_loop(names, timesteps, batches, repeat):
    """Rows (model, T, batch, n, python s/s, Loop s/s, same outputs, threads)."""
    from snncc.backends.onnx_step.engine import OrtStepRunner
    from snncc.backends.simulator import build_program

    rows = []
    for name in names:
        program = build_program(_compiled(name))
        runners = {mode: OrtStepRunner(program, loop=loop) for mode, loop in MODES}
        key = program.inputs[0]
        for runner in runners.values():
            runner.simulate({key: _samples(name, 1)[:1]}, 1)    # sessions built outside the timing
        for t in timesteps:
            for batch in batches:
                x = _samples(name, batch)
                times = {mode: [] for mode in runners}
                outs = {}
                for _ in range(repeat):
                    for mode, runner in runners.items():
                        start = time.perf_counter()
                        outs[mode] = runner.simulate({key: x}, t, batch_size=batch)
                        times[mode].append(time.perf_counter() - start)
                a, b = (outs[m]["outputs"][program.outputs[0]][t] for m, _ in MODES)
                same = np.array_equal(a, b) and outs["python"]["spikes_per_layer"] == outs["Loop"]["spikes_per_layer"]
                rows.append((name, t, batch, len(x), len(x) / statistics.median(times["python"]),
                             len(x) / statistics.median(times["Loop"]), same, runners["python"].threads))
    return rows


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def memory_child(path: str, t: int, loop: bool) -> dict:
    """Runs in a fresh process: peak RSS of one ort-engine run of 256 samples at batch 256."""
    from snncc.backends.onnx_step.engine import OrtStepRunner
    from snncc.backends.simulator import build_program
    from snncc.ir import load

    program = build_program(load(path))
    runner = OrtStepRunner(program, loop=loop)
    x = _samples("mnist_cnn", 256)
    runner.simulate({program.inputs[0]: x[:1]}, 1)
    before = _rss_mib()
    with open("/proc/self/clear_refs", "w") as f:   # the peak from here on (VmHWM), not the program build's
        f.write("5")
    runner.simulate({program.inputs[0]: x}, t, batch_size=256)
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    return {"before": before, "peak": peak}


def bench_memory(steps=(8, 64)):
    """Rows (mode, T, peak MiB, growth MiB) for mnist_cnn at batch 256."""
    from snncc.ir import save

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "mnist_cnn.snnir")
        save(_compiled("mnist_cnn"), path)
        for mode, loop in MODES:
            for t in steps:
                out = subprocess.run([sys.executable, __file__, path, str(t), str(int(loop))], capture_output=True,
                                     text=True, cwd=ROOT)
                if out.returncode != 0:
                    raise SystemExit(out.stderr)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append((mode, t, r["peak"], r["peak"] - r["before"]))
    return rows


def print_loop(names, timesteps, batches, repeat) -> None:
    rows = bench_loop(names, timesteps, batches, repeat)
    print(f"\nort engine, rate analog input: steps from Python vs one ONNX Loop, samples/s (median of {repeat} "
          "interleaved runs)")
    print(f"{'model':<11} {'T':>3} {'batch':>5} {'n':>4} {'python':>9} {'Loop':>9} {'Loop/py':>8} {'same':>5}")
    for name, t, batch, n, py, loop, same, _ in rows:
        print(f"{name:<11} {t:>3} {batch:>5} {n:>4} {py:>9.1f} {loop:>9.1f} {loop / py:>8.2f} {str(same):>5}")
    if rows:
        print(f"(onnxruntime intra-op threads: {rows[0][7]})")
    print("\nort engine peak memory vs T (mnist_cnn, 256 samples, batch 256, fresh process each)")
    print(f"{'mode':<7} {'T':>3} {'peak MiB':>9} {'growth MiB':>10}")
    for mode, t, peak, growth in bench_memory():
        print(f"{mode:<7} {t:>3} {peak:>9.0f} {growth:>10.1f}")


if __name__ == "__main__":
    print(json.dumps(memory_child(sys.argv[1], int(sys.argv[2]), bool(int(sys.argv[3])))))
