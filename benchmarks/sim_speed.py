"""Simulator speed on the bundled CNNs (rate coding), side by side in one run.

    python benchmarks/sim_speed.py                       # digits_cnn and mnist_cnn, T = 8, 32, batch 1 and 256
    python benchmarks/sim_speed.py --timesteps 8,32,128 --repeat 3

For each model (compiled with `snncc.compile(model, coding="rate", calibration=<its calib npz>)`), each T and batch
size, samples per second (median of --repeat runs) of:

    runner     the in-process runner, `simulate(program, x, T, batch_size=B)` on a prebuilt program
    ort eng    the same program on the ort engine (`OrtStepRunner`, session built beforehand; SpikingJelly table)
    emitted    the standalone program from `emit_program`, run as a subprocess (`--timesteps T --batch-size B`); its
               time includes the interpreter start and the NumPy import, so at small sample counts it is lower
    ort (ANN)  onnxruntime running the ANN on the same samples at the same batch size, for scale (T-independent)

Samples: 256 at batch 256, 16 at batch 1. Memory: `peak MiB` is the emitted program's peak resident set (wait4
ru_maxrss of that subprocess), `act MiB` the runner's peak NumPy allocation during the run (tracemalloc): it does not
grow with T, since the runner keeps one buffer per layer and overwrites it every step.

Sparsity: the MNIST CNN at T = 32, batch 256, with the input scaled by 1, 0.5 and 0.25 (fewer spikes), runner with
the automatic (event-driven where cheaper) synaptic path and with the dense path; density = spikes per neuron per
step. The 1-minute load average is printed: the machine may be shared.

--engines: the two engines side by side on the bundled models (`--models`), codings rate T = 8 and 32, signed T = 4,
phase and amos, batch 1 (16 samples) and 256 (256 samples): samples/s of `simulate(..., engine="numpy")` (one BLAS
thread, event-driven paths) and `engine="ort"` (the ONNX step model; onnxruntime with one intra-op thread per core,
session built once outside the timing), and onnxruntime's ANN on the same samples times the passes the SNN makes
(T for rate and signed, 1 for the windowed codings, whose step model is one pass): the floor the ort engine is
compared with. The three are run in turn within each repeat (interleaved), and the medians are printed with the
ratios ort / numpy and ort time / (ANN time x passes).

--loop: the ort engine stepping from Python vs as one ONNX Loop, and its peak memory at T = 8 vs 64
(benchmarks/sim_speed_loop.py).

--spikingjelly: SpikingJelly's ann2snn FXConverter with RateCodingRecipe(mode="max") on the calibration images, on a
torch copy of the same ONNX network, T single-step calls per batch after `functional.reset_net`, in its own venv
benchmarks/.venv-sj (created with --system-site-packages and `pip install spikingjelly torch==2.13.0 onnx`, the local CPU
torch pinned so that pip does not fetch a CUDA build); printed next to the runner's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"digits_cnn": ("digits_calib", "digits_test"), "mnist_cnn": ("mnist_calib", "mnist_test")}


def _median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _run_child(cmd):
    """Wall time and peak RSS (MiB) of one subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err}")
    return wall, usage.ru_maxrss / 1024


def _samples(x, batch):
    n = 256 if batch > 1 else 16
    reps = -(-n // len(x))
    return np.concatenate([x] * reps)[:n]


def bench_model(name, timesteps, batches, repeat, tmp):
    import onnxruntime as ort
    import snncc
    from snncc.backends.simulator import build_program, emit_program, simulate

    calib_name, test_name = MODELS[name]
    onnx_path = ROOT / "models" / f"{name}.onnx"
    calib = np.load(ROOT / "models" / "data" / f"{calib_name}.npz")["x"]
    x_all = np.load(ROOT / "models" / "data" / f"{test_name}.npz")["x"].astype(np.float32)
    graph = snncc.compile(str(onnx_path), coding="rate", calibration=calib)
    program = build_program(graph)
    from snncc.backends.onnx_step.engine import OrtStepRunner

    ort_runner = OrtStepRunner(program)
    ort_runner.simulate({program.inputs[0]: x_all[:1]}, 1)     # builds the sessions outside the timing
    folder = Path(tmp) / name
    script = emit_program(graph, folder)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    in_name = session.get_inputs()[0].name
    rows = []
    for batch in batches:
        x = _samples(x_all, batch)
        n = len(x)
        np.savez(folder / f"input_{batch}.npz", x=x)

        def ort_run():
            for s in range(0, n, batch):
                session.run(None, {in_name: x[s:s + batch]})
        ort_sps = n / _median_time(ort_run, repeat)
        for t in timesteps:
            runner_sps = n / _median_time(lambda: simulate(program, x, t, batch_size=batch), repeat)
            engine_sps = n / _median_time(lambda: ort_runner.simulate({program.inputs[0]: x}, t, batch_size=batch),
                                          repeat)
            tracemalloc.start()
            simulate(program, x, t, batch_size=batch)
            act = tracemalloc.get_traced_memory()[1] / 2 ** 20
            tracemalloc.stop()
            runs = [_run_child([sys.executable, str(script), str(folder / f"input_{batch}.npz"), "--timesteps",
                                str(t), "--batch-size", str(batch)]) for _ in range(repeat)]
            emitted_sps = n / statistics.median(r[0] for r in runs)
            peak = max(r[1] for r in runs)
            rows.append((name, t, batch, n, runner_sps, emitted_sps, ort_sps, peak, act, engine_sps))
    return rows


def bench_sparsity(repeat, t=32):
    import snncc
    from snncc.backends.simulator import build_program, simulate

    calib = np.load(ROOT / "models" / "data" / "mnist_calib.npz")["x"]
    x = np.load(ROOT / "models" / "data" / "mnist_test.npz")["x"][:256].astype(np.float32)
    graph = snncc.compile(str(ROOT / "models" / "mnist_cnn.onnx"), coding="rate", calibration=calib)
    program = build_program(graph)
    neurons = sum(int(np.prod(n.type.shape)) for n in graph.nodes if n.op == "if_neuron")
    rows = []
    for scale in (1.0, 0.5, 0.25):
        xs = x * np.float32(scale)
        result = simulate(program, xs, t)
        density = result.spikes_per_sample / (neurons * t)
        auto = len(xs) / _median_time(lambda: simulate(program, xs, t, synaptic_path="auto"), repeat)
        dense = len(xs) / _median_time(lambda: simulate(program, xs, t, synaptic_path="dense"), repeat)
        rows.append((scale, density, auto, dense))
    return rows


ENGINE_CONFIGS = [("rate", 8), ("rate", 32), ("signed", 4), ("phase", None), ("amos", None)]


def _test_data(name):
    if name.startswith("karate"):
        x = np.load(ROOT / "models" / "data" / "karate.npz")["x"]
        return x, x
    prefix = "mnist" if name.startswith("mnist") else "digits"
    data = ROOT / "models" / "data"
    return np.load(data / f"{prefix}_calib.npz")["x"], np.load(data / f"{prefix}_test.npz")["x"].astype(np.float32)


def bench_engines(names, batches, repeat):
    """Rows (model, coding, T, batch, n, numpy s/s, ort s/s, ANN x passes s/s, threads): the engines interleaved."""
    import onnxruntime as ort
    import snncc
    from snncc.backends.onnx_step.engine import OrtStepRunner, machine_threads
    from snncc.backends.simulator import build_program, simulate
    from snncc.errors import SnnccError

    rows = []
    for name in names:
        calib, x_all = _test_data(name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = machine_threads()
        ann = ort.InferenceSession(str(ROOT / "models" / f"{name}.onnx"), options,
                                   providers=["CPUExecutionProvider"])
        in_name = ann.get_inputs()[0].name
        for coding, t in ENGINE_CONFIGS:
            try:
                graph = snncc.compile(str(ROOT / "models" / f"{name}.onnx"), coding, timesteps=t or 32,
                                      calibration=calib, record_spike_rates=False)
            except SnnccError as exc:
                print(f"{name} {coding} T={t}: does not compile ({str(exc)[:80]}...)")
                continue
            program = build_program(graph)
            runner = OrtStepRunner(program)
            runner.simulate({program.inputs[0]: x_all[:1]}, 1)     # builds the sessions outside the timing
            windowed = program.schedule == "windowed"
            steps = 1 if windowed else t
            for batch in batches:
                x = _samples(x_all, batch) if len(x_all) > 1 else x_all
                n = len(x)

                def ann_run():
                    for s in range(0, n, batch):
                        ann.run(None, {in_name: x[s:s + batch]})
                times = {"numpy": [], "ort": [], "ann": []}
                for _ in range(repeat):
                    for engine, fn in (("numpy", lambda: simulate(program, x, steps, batch_size=batch)),
                                       ("ort", lambda: runner.simulate({program.inputs[0]: x}, steps,
                                                                       batch_size=batch)),
                                       ("ann", ann_run)):
                        start = time.perf_counter()
                        fn()
                        times[engine].append(time.perf_counter() - start)
                med = {k: statistics.median(v) for k, v in times.items()}
                rows.append((name, coding, t or "-", batch, n, n / med["numpy"], n / med["ort"],
                             n / (med["ann"] * steps), runner.threads, steps))
    return rows


def print_engines(rows, repeat):
    print("\nengines side by side: samples/s (median of %d interleaved runs)" % repeat)
    print(f"{'model':<17} {'coding':<6} {'T':>3} {'batch':>5} {'n':>4} {'numpy':>9} {'ort':>9} {'ort/numpy':>9} "
          f"{'ANNxT':>9} {'ort/ANNxT':>9}")
    for name, coding, t, batch, n, numpy_sps, ort_sps, ann_sps, threads, steps in rows:
        print(f"{name:<17} {coding:<6} {t!s:>3} {batch:>5} {n:>4} {numpy_sps:>9.1f} {ort_sps:>9.1f} "
              f"{ort_sps / numpy_sps:>9.2f} {ann_sps:>9.1f} {ann_sps / ort_sps:>8.1f}x")
    if rows:
        print(f"(ort: {rows[0][8]} intra-op threads; numpy: 1 BLAS thread; ANNxT: onnxruntime's ANN throughput "
              f"divided by the passes, ort/ANNxT: how many times slower the ort engine is than that floor)")


SJ_VENV = ROOT / "benchmarks" / ".venv-sj"

# runs inside SJ_VENV: the ONNX chain (Conv, BatchNormalization, Relu, MaxPool/AveragePool, Reshape, Gemm) as a torch
# nn.Sequential with the same weights, SpikingJelly's ann2snn FXConverter (RateCodingRecipe, mode "max", on the
# calibration images), then T single-step calls per batch with the network reset in between (SpikingJelly's
# examples/cnn_mnist.py loop)
SJ_CHILD = r"""
import json, sys, time, statistics
import numpy as np, onnx, torch
from onnx import numpy_helper
from spikingjelly.activation_based import ann2snn, functional
onnx_path, calib_path, test_path, ts, batches, repeat = sys.argv[1:7]
model = onnx.load(onnx_path)
inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
layers = []
for node in model.graph.node:
    a = {x.name: onnx.helper.get_attribute_value(x) for x in node.attribute}
    w = [inits[i] for i in node.input[1:] if i in inits]
    if node.op_type == "Conv":
        m = torch.nn.Conv2d(w[0].shape[1], w[0].shape[0], tuple(a["kernel_shape"]), a.get("strides", 1),
                            a.get("pads", [0, 0])[:2], bias=len(w) > 1)
        m.weight.data, m.bias.data = w[0], w[1]
    elif node.op_type == "BatchNormalization":
        m = torch.nn.BatchNorm2d(w[0].shape[0], eps=a.get("epsilon", 1e-5))
        m.weight.data, m.bias.data, m.running_mean.data, m.running_var.data = w
    elif node.op_type == "Relu":
        m = torch.nn.ReLU()
    elif node.op_type == "MaxPool":
        m = torch.nn.MaxPool2d(tuple(a["kernel_shape"]), tuple(a["strides"]))
    elif node.op_type == "AveragePool":
        m = torch.nn.AvgPool2d(tuple(a["kernel_shape"]), tuple(a["strides"]))
    elif node.op_type in ("Reshape", "Flatten"):
        m = torch.nn.Flatten()
    elif node.op_type == "Gemm":
        m = torch.nn.Linear(w[0].shape[1], w[0].shape[0])
        m.weight.data, m.bias.data = w[0], w[1]
    else:
        raise SystemExit("unsupported op " + node.op_type)
    layers.append(m)
ann = torch.nn.Sequential(*layers).eval()
calib = torch.from_numpy(np.load(calib_path)["x"].astype(np.float32))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(calib, torch.zeros(len(calib))), batch_size=64)
recipe = ann2snn.RateCodingRecipe(dataloader=loader, mode="max")
snn = ann2snn.FXConverter(recipe=recipe, device="cpu").convert(ann).eval()
x_all = torch.from_numpy(np.load(test_path)["x"].astype(np.float32))
rows = []
with torch.no_grad():
    for batch in map(int, batches.split(",")):
        n = 256 if batch > 1 else 16
        x = x_all.repeat(-(-n // len(x_all)), 1, 1, 1)[:n]
        for t in map(int, ts.split(",")):
            times = []
            for _ in range(int(repeat)):
                start = time.perf_counter()
                for s in range(0, n, batch):
                    functional.reset_net(snn)
                    xb, out = x[s:s + batch], 0
                    for _ in range(t):
                        out = out + snn(xb)
                times.append(time.perf_counter() - start)
            rows.append({"T": t, "batch": batch, "sps": n / statistics.median(times)})
print(json.dumps({"threads": torch.get_num_threads(), "rows": rows}))
"""


def bench_spikingjelly(name, timesteps, batches, repeat):
    """SpikingJelly ann2snn + simulation of the same network in benchmarks/.venv-sj (created on first use with the
    local CPU torch pinned in the same pip command: an unpinned install would pull a multi-GB CUDA build)."""
    python = SJ_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(SJ_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "spikingjelly", "torch==2.13.0", "onnx"],
                       check=True)
    calib_name, test_name = MODELS[name]
    out = subprocess.run([str(python), "-c", SJ_CHILD, str(ROOT / "models" / f"{name}.onnx"),
                          str(ROOT / "models" / "data" / f"{calib_name}.npz"),
                          str(ROOT / "models" / "data" / f"{test_name}.npz"), ",".join(map(str, timesteps)),
                          ",".join(map(str, batches)), str(repeat)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["threads"], {(r["T"], r["batch"]): r["sps"] for r in result["rows"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="digits_cnn,mnist_cnn")
    parser.add_argument("--timesteps", default="8,32")
    parser.add_argument("--batches", default="1,256")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-sparsity", action="store_true")
    parser.add_argument("--engines", action="store_true",
                        help="only the numpy vs ort engine table (codings rate T=8,32, signed T=4, phase, amos)")
    parser.add_argument("--loop", action="store_true",
                        help="only the ort engine's Python-stepped vs ONNX Loop table and its memory vs T")
    parser.add_argument("--spikingjelly", action="store_true",
                        help="also run SpikingJelly's ann2snn (installs benchmarks/.venv-sj on first use)")
    args = parser.parse_args(argv)
    timesteps = [int(v) for v in args.timesteps.split(",")]
    batches = [int(v) for v in args.batches.split(",")]
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.loop:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from sim_speed_loop import print_loop

        print_loop(args.models.split(","), timesteps, batches, args.repeat)
        print(f"\nload average (1 min) at end: {os.getloadavg()[0]:.1f}")
        return
    if args.engines:
        print_engines(bench_engines(args.models.split(","), batches, args.repeat), args.repeat)
        print(f"\nload average (1 min) at end: {os.getloadavg()[0]:.1f}")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            rows += bench_model(name, timesteps, batches, args.repeat, tmp)
    print("\nsamples/s (median of %d runs)" % args.repeat)
    print(f"{'model':<11} {'T':>4} {'batch':>5} {'n':>4} {'runner':>9} {'emitted':>9} {'ort (ANN)':>10} "
          f"{'peak MiB':>9} {'act MiB':>8}")
    for name, t, batch, n, runner, emitted, ort_sps, peak, act, _ in rows:
        print(f"{name:<11} {t:>4} {batch:>5} {n:>4} {runner:>9.1f} {emitted:>9.1f} {ort_sps:>10.0f} "
              f"{peak:>9.0f} {act:>8.1f}")
    if args.spikingjelly:
        print("\nSpikingJelly ann2snn (same networks, same samples; torch CPU) vs the runner, samples/s")
        print(f"{'model':<11} {'T':>4} {'batch':>5} {'runner':>9} {'ort eng':>9} {'SJ':>9} {'runner/SJ':>9} "
              f"{'ort/SJ':>7}")
        for name in args.models.split(","):
            threads, sj = bench_spikingjelly(name, timesteps, batches, args.repeat)
            for r in rows:
                if r[0] == name:
                    t, batch, runner, engine = r[1], r[2], r[4], r[9]
                    print(f"{name:<11} {t:>4} {batch:>5} {runner:>9.1f} {engine:>9.1f} {sj[(t, batch)]:>9.1f} "
                          f"{runner / sj[(t, batch)]:>9.2f} {engine / sj[(t, batch)]:>7.2f}")
            print(f"(torch threads: {threads})")
    if not args.no_sparsity:
        print("\nmnist_cnn, T=32, batch 256: runner samples/s vs spike density (input scaled)")
        print(f"{'x scale':>7} {'density':>8} {'auto':>8} {'dense':>8}")
        for scale, density, auto, dense in bench_sparsity(args.repeat):
            print(f"{scale:>7.2f} {density:>8.4f} {auto:>8.1f} {dense:>8.1f}")
    print(f"\nload average (1 min) at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
