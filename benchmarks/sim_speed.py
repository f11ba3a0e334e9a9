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

Density: the event-driven program on mnist_cnn (rate, T = 32, batch 256, 256 samples, Poisson input coding) at
input spike densities 0 (no input spike: the floor), 0.02, 0.04, 0.06 and 0.10: the density is set by scaling the
images so that the mean firing probability clip(x, 0, 1) is the target (x * d / mean(x); no pixel reaches 1, so
nothing is clipped) and is measured back as input spikes per pixel per step. samples/s of the runner with the default
synaptic path ("auto": fused event-driven max-pool trees, per-layer event/dense decisions) and with the dense
reference, interleaved, by wall time and by the process's CPU time (steadier on a shared machine), and the ratio of
each density's throughput to the one at 0.06. A per-kernel CPU-time profile of one run at 0, 0.02 and 0.06 shows
what does not shrink with the density.

--engines: the two engines side by side on the bundled models (`--models`), codings rate T = 8 and 32, signed T = 4,
phase and amos, batch 1 (16 samples) and 256 (256 samples): samples/s of `simulate(..., engine="numpy")` (one BLAS
thread, event-driven paths) and `engine="ort"` (the ONNX step model; onnxruntime with one intra-op thread per idle
core, session built once outside the timing), and onnxruntime's ANN on the same samples times the passes the SNN makes
(T for rate and signed, 1 for the windowed codings, whose step model is one pass): the floor the ort engine is
compared with. The three are run in turn within each repeat (interleaved), and the medians are printed with the
ratios ort / numpy and ort time / (ANN time x passes).

--loop: the ort engine stepping from Python vs as one ONNX Loop, and its peak memory at T = 8 vs 64
(benchmarks/sim_speed_loop.py).

--spikingjelly: SpikingJelly's ann2snn FXConverter with RateCodingRecipe(mode="max") on the calibration images, on a
torch copy of the same ONNX network, T single-step calls per batch after `functional.reset_net`, in its own venv
benchmarks/.venv-sj (created with --system-site-packages and `pip install spikingjelly torch==2.13.0 onnx` in one
command, the local CPU torch pinned so that pip never picks a torch build itself). SpikingJelly runs in one child
process that stays up, and every repeat times, in turn, the runner, the ort engine, the emitted program and
SpikingJelly on one torch thread and on all the machine's threads (interleaved, so load changes hit all alike). The
emitted program is timed twice: the subprocess's wall time (interpreter start, imports and loading included) and
the simulation alone (`simulate_seconds` of its --json report).
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
    """Wall time, peak RSS (MiB) and the --json report of one emitted-program subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err}")
    return wall, usage.ru_maxrss / 1024, json.loads(out.decode().strip().splitlines()[-1])


def _samples(x, batch):
    n = 256 if batch > 1 else 16
    reps = -(-n // len(x))
    return np.concatenate([x] * reps)[:n]


def bench_model(name, timesteps, batches, repeat, tmp, sj=None):
    """Rows per (T, batch): medians of runner, ort engine, emitted (wall and simulation only), SpikingJelly on one
    and on all threads, each repeat running them in turn."""
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
    options = ort.SessionOptions()
    options.intra_op_num_threads = ort_runner.threads     # the ANN on as many threads as the ort engine
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
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
            times = {key: [] for key in ("runner", "engine", "emitted", "emitted_sim", "sj1", "sj_all")}
            peak = 0.0
            cmd = [sys.executable, str(script), str(folder / f"input_{batch}.npz"), "--timesteps", str(t),
                   "--batch-size", str(batch), "--json"]
            for _ in range(repeat):
                times["runner"].append(_time(lambda: simulate(program, x, t, batch_size=batch)))
                times["engine"].append(_time(lambda: ort_runner.simulate({program.inputs[0]: x}, t,
                                                                         batch_size=batch)))
                wall, rss, report = _run_child(cmd)
                times["emitted"].append(wall)
                times["emitted_sim"].append(report["simulate_seconds"])
                peak = max(peak, rss)
                if sj is not None:
                    times["sj1"].append(sj.seconds(t, batch, 1))
                    times["sj_all"].append(sj.seconds(t, batch, os.cpu_count()))
            tracemalloc.start()
            simulate(program, x, t, batch_size=batch)
            act = tracemalloc.get_traced_memory()[1] / 2 ** 20
            tracemalloc.stop()
            sps = {key: n / statistics.median(v) for key, v in times.items() if v}
            rows.append(dict(name=name, t=t, batch=batch, n=n, ort=ort_sps, peak=peak, act=act, **sps))
    return rows


def _time(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


DENSITIES = (0.0, 0.02, 0.04, 0.06, 0.10)     # 0: no input spike at all, the floor that does not shrink


def bench_density(repeat, t=32, batch=256, n=256):
    """Rows (target density, measured input density, hidden-layer density, auto s/s, dense s/s, auto s/s and dense
    s/s by CPU time) on mnist_cnn with Poisson input scaled to each density; auto and dense runs interleaved. CPU time
    (time.process_time; the simulator runs on one thread) is what the process itself spent, so on a shared machine
    it moves less with the others' load than the wall time. Also {density: per-kernel CPU seconds} of one auto run
    at 0, 0.02 and 0.06."""
    import snncc
    from snncc.backends.simulator import build_program, simulate

    calib = np.load(ROOT / "models" / "data" / "mnist_calib.npz")["x"]
    x = np.load(ROOT / "models" / "data" / "mnist_test.npz")["x"][:n].astype(np.float32)
    graph = snncc.compile(str(ROOT / "models" / "mnist_cnn.onnx"), coding="rate", calibration=calib)
    program = build_program(graph)
    pixels = int(np.prod(program.shapes[program.inputs[0]]))
    mean = float(np.clip(x, 0, 1).mean())
    scaled = {d: x * np.float32(d / mean) for d in DENSITIES}
    assert all(float(v.max()) < 1 for v in scaled.values()), "a scaled pixel would be clipped"
    times = {(d, path): [] for d in DENSITIES for path in ("auto", "dense")}
    measured = {}
    for _ in range(repeat):
        for d in DENSITIES:
            for path in ("auto", "dense"):
                start, cpu = time.perf_counter(), time.process_time()
                result = simulate(program, scaled[d], t, input_coding="poisson", batch_size=batch,
                                  synaptic_path=path)
                times[d, path].append((time.perf_counter() - start, time.process_time() - cpu))
            spikes = result.spikes_per_layer
            hidden = sum(v for k, v in spikes.items() if k != program.inputs[0])
            neurons = sum(int(np.prod(program.shapes[k])) for k in spikes if k != program.inputs[0])
            measured[d] = (spikes[program.inputs[0]] / (pixels * t), hidden / (neurons * t))
    def rate(d, path, which):
        return n / statistics.median(s[which] for s in times[d, path])
    rows = [(d, *measured[d], rate(d, "auto", 0), rate(d, "dense", 0), rate(d, "auto", 1), rate(d, "dense", 1))
            for d in DENSITIES]
    return rows, {d: _profile(program, scaled[d], t, batch) for d in (0.0, 0.02, 0.06)}


def _profile(program, x, t, batch):
    """CPU seconds per stepped kernel (fused trees as one) of one auto run, by kernel name."""
    from snncc.backends.simulator import simulate

    spent = {}
    kernels = list(program.kernels) + list(program.pool_trees)
    for kernel in kernels:
        def timed(step_t, step=kernel.step, name=kernel.name):
            start = time.process_time()
            step(step_t)
            spent[name] = spent.get(name, 0.0) + time.process_time() - start
        kernel.step = timed
    try:
        simulate(program, x, t, input_coding="poisson", batch_size=batch)
    finally:
        for kernel in kernels:
            del kernel.step
    return spent


def print_density(rows, profiles, repeat):
    print(f"\nmnist_cnn rate, T=32, batch 256, Poisson input scaled to a spike density: samples/s (median of "
          f"{repeat} interleaved runs)")
    print(f"{'density':>7} {'input':>7} {'hidden':>7} {'auto':>8} {'dense':>8} {'auto/dense':>10} {'vs 0.06':>8} "
          f"{'auto cpu':>9} {'dense cpu':>9} {'vs 0.06':>8}")
    at = {r[0]: r[3] for r in rows}
    at_cpu = {r[0]: r[5] for r in rows}
    for d, measured_in, hidden, auto, dense, auto_cpu, dense_cpu in rows:
        print(f"{d:>7.2f} {measured_in:>7.4f} {hidden:>7.4f} {auto:>8.1f} {dense:>8.1f} {auto / dense:>10.2f} "
              f"{auto / at[0.06]:>8.2f} {auto_cpu:>9.1f} {dense_cpu:>9.1f} {auto_cpu / at_cpu[0.06]:>8.2f}")
    print(f"(input: measured input spikes per pixel per step; hidden: spikes per hidden neuron per step; cpu: by the "
          f"process's CPU time; target: 0.02 >= 2x 0.06, measured {at[0.02] / at[0.06]:.2f}x, "
          f"{at_cpu[0.02] / at_cpu[0.06]:.2f}x by CPU time)")
    for d, spent in profiles.items():
        total = sum(spent.values())
        top = sorted(spent.items(), key=lambda kv: -kv[1])[:8]
        print(f"profile at {d}: {total:.2f} CPU s in kernels; "
              + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in top))


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
    from snncc.backends.onnx_step.engine import OrtStepRunner, idle_threads
    from snncc.backends.simulator import build_program, simulate
    from snncc.errors import SnnccError

    rows = []
    for name in names:
        calib, x_all = _test_data(name)
        threads = idle_threads()    # the ort engine's default, given to both sessions alike
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
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
            runner = OrtStepRunner(program, threads)
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
# calibration images), then, for each request "T batch threads" on stdin, T single-step calls per batch with the
# network reset in between (SpikingJelly's examples/cnn_mnist.py loop) on that many torch threads; one JSON line of
# seconds per request
SJ_CHILD = r"""
import json, sys, time, statistics
import numpy as np, onnx, torch
from onnx import numpy_helper
from spikingjelly.activation_based import ann2snn, functional
onnx_path, calib_path, test_path = sys.argv[1:4]
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
print("ready", flush=True)
with torch.no_grad():
    for line in sys.stdin:
        t, batch, threads = map(int, line.split())
        torch.set_num_threads(threads)
        n = 256 if batch > 1 else 16
        x = x_all.repeat(-(-n // len(x_all)), 1, 1, 1)[:n]
        start = time.perf_counter()
        for s in range(0, n, batch):
            functional.reset_net(snn)
            xb, out = x[s:s + batch], 0
            for _ in range(t):
                out = out + snn(xb)
        print(json.dumps({"seconds": time.perf_counter() - start, "threads": torch.get_num_threads()}), flush=True)
"""


def ensure_sj_venv():
    """benchmarks/.venv-sj with SpikingJelly, onnx and the local CPU torch 2.13.0, all in one pip command (an unpinned
    install would let pip pick a multi-GB CUDA build); repaired when an earlier creation stopped half-way."""
    python = SJ_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(SJ_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import spikingjelly, torch, onnx"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "spikingjelly", "torch==2.13.0", "onnx"],
                       check=True)
    return python


class SpikingJelly:
    """One SpikingJelly child per model (ann2snn conversion done once), timed on request."""

    def __init__(self, name):
        calib_name, test_name = MODELS[name]
        self.proc = subprocess.Popen(
            [str(ensure_sj_venv()), "-c", SJ_CHILD, str(ROOT / "models" / f"{name}.onnx"),
             str(ROOT / "models" / "data" / f"{calib_name}.npz"), str(ROOT / "models" / "data" / f"{test_name}.npz")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"SpikingJelly child for {name} did not start (see its error above)")

    def seconds(self, t, batch, threads):
        self.proc.stdin.write(f"{t} {batch} {threads}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("SpikingJelly child stopped (see its error above)")
        return json.loads(line)["seconds"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def bench_models(args, timesteps, batches):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            sj = SpikingJelly(name) if args.spikingjelly else None
            try:
                rows += bench_model(name, timesteps, batches, args.repeat, tmp, sj)
            finally:
                if sj is not None:
                    sj.close()
    print("\nsamples/s (median of %d runs)" % args.repeat)
    print(f"{'model':<11} {'T':>4} {'batch':>5} {'n':>4} {'runner':>9} {'emitted':>9} {'emit sim':>9} "
          f"{'ort (ANN)':>10} {'peak MiB':>9} {'act MiB':>8}")
    for r in rows:
        print(f"{r['name']:<11} {r['t']:>4} {r['batch']:>5} {r['n']:>4} {r['runner']:>9.1f} {r['emitted']:>9.1f} "
              f"{r['emitted_sim']:>9.1f} {r['ort']:>10.0f} {r['peak']:>9.0f} {r['act']:>8.1f}")
    print("(emitted: the subprocess's wall time; emit sim: its simulation alone)")
    if args.spikingjelly:
        print(f"\nSpikingJelly ann2snn (same networks, same samples; torch CPU on 1 and {os.cpu_count()} threads), "
              f"interleaved with ours, samples/s")
        print(f"{'model':<11} {'T':>4} {'batch':>5} {'runner':>8} {'emitted':>8} {'emit sim':>8} {'ort eng':>8} "
              f"{'SJ 1thr':>8} {'SJ all':>8} {'emit/SJ1':>8} {'emit/SJa':>8} {'esim/SJ1':>8} {'esim/SJa':>8} "
              f"{'ort/SJ1':>7} {'ort/SJa':>7}")
        for r in rows:
            sj1, sja = r["sj1"], r["sj_all"]
            print(f"{r['name']:<11} {r['t']:>4} {r['batch']:>5} {r['runner']:>8.1f} {r['emitted']:>8.1f} "
                  f"{r['emitted_sim']:>8.1f} {r['engine']:>8.1f} {sj1:>8.1f} {sja:>8.1f} {r['emitted'] / sj1:>8.2f} "
                  f"{r['emitted'] / sja:>8.2f} {r['emitted_sim'] / sj1:>8.2f} {r['emitted_sim'] / sja:>8.2f} "
                  f"{r['engine'] / sj1:>7.2f} {r['engine'] / sja:>7.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="digits_cnn,mnist_cnn")
    parser.add_argument("--timesteps", default="8,32")
    parser.add_argument("--batches", default="1,256")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-sparsity", action="store_true", help="leave out the spike density table")
    parser.add_argument("--density-only", action="store_true", help="only the spike density table")
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
    if not args.density_only:
        bench_models(args, timesteps, batches)
    if not args.no_sparsity:
        print_density(*bench_density(args.repeat), args.repeat)
    print(f"\nload average (1 min) at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
