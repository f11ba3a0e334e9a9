"""Compiler scale: compile time and peak memory of ResNet-18/34/50-shaped ONNX models with random weights.

    python benchmarks/compile_scale.py                      # ResNet-18/34/50, data-free and 64 calibration samples
    python benchmarks/compile_scale.py --depths 50 --resolution 224 --calib-resolution 64 --map

The models are generated with onnx.helper (no torch): stem conv 7x7/2 + BatchNormalization + Clip(0, 6) + MaxPool
3x3/2, basic (18, 34) or bottleneck (50) blocks with BatchNormalization, Clip(0, 6) activations and residual Adds
(1x1 strided projection + BN where the shape changes), GlobalAveragePool, Flatten, Gemm to 1000 classes. Clip(0, 6)
gives every activation a data-free threshold (6), so `snncc.compile(model, coding="rate")` needs no calibration.

Each (model, mode) runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own:

    data-free   snncc.compile(path, coding="rate", pipeline=<the rate pipeline without `calibrate`>) at
                --resolution (default 224); balance-thresholds takes theta = 6 from every Clip(0, 6)
    calib 64    snncc.compile(path, coding="rate", calibration=<64 random images>) at --calib-resolution (default
                64: the calibration pass runs the ANN on the samples, which at 224 x 224 takes minutes on 2 cores)
    map         (--map) the data-free graph mapped by snncc.backends.coremap.map_graph onto loihi2

Columns: ONNX nodes, IR nodes after compiling, weights (MB, float32), wall seconds of the compile call (model load
included; generation and interpreter start excluded), peak RSS and its growth over the RSS before the compile call,
as a multiple of the weights' size. The last line fits seconds per ONNX node across the three models (linear growth
means a near-constant ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


def resnet_onnx(depth: int, resolution: int, seed: int = 0, width: float = 1.0):
    """A ResNet-`depth`-shaped onnx.ModelProto with random weights, channel counts times `width` (at least 8);
    returns (model, number of weights)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    count = [0]
    names = iter(range(10 ** 6))

    def init(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        count[0] += int(np.asarray(array).size)
        return name

    def conv_bn(x, cin, cout, k, stride, relu=True):
        i = next(names)
        w = init(f"w{i}", rng.standard_normal((cout, cin, k, k), dtype=np.float32) / np.sqrt(cin * k * k))
        nodes.append(helper.make_node("Conv", [x, w], [f"c{i}"], kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[k // 2] * 4))
        bn = [init(f"bn{i}.{p}", v) for p, v in (("s", rng.uniform(0.5, 1.5, cout)), ("b", rng.normal(0, .1, cout)),
                                                    ("m", rng.normal(0, .1, cout)), ("v", rng.uniform(.5, 1.5, cout)))]
        nodes.append(helper.make_node("BatchNormalization", [f"c{i}"] + bn, [f"n{i}"]))
        return clip(f"n{i}") if relu else f"n{i}"

    def clip(x):
        i = next(names)
        nodes.append(helper.make_node("Clip", [x, "zero", "six"], [f"r{i}"]))
        return f"r{i}"

    inits.append(numpy_helper.from_array(np.array(0, np.float32), "zero"))
    inits.append(numpy_helper.from_array(np.array(6, np.float32), "six"))
    kind, stages = BLOCKS[depth]
    ch = lambda c: max(8, int(round(c * width)))  # noqa: E731
    v = conv_bn("x", 3, ch(64), 7, 2)
    nodes.append(helper.make_node("MaxPool", [v], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    v, cin = "pool", ch(64)
    for stage, blocks in enumerate(stages):
        mid = ch(64 * 2 ** stage)
        cout = ch(64 * 2 ** stage * 4) if kind == "bottleneck" else mid
        for b in range(blocks):
            stride = 2 if (b == 0 and stage > 0) else 1
            if kind == "bottleneck":
                a = conv_bn(v, cin, mid, 1, 1)
                a = conv_bn(a, mid, mid, 3, stride)
                a = conv_bn(a, mid, cout, 1, 1, relu=False)
            else:
                a = conv_bn(v, cin, mid, 3, stride)
                a = conv_bn(a, mid, cout, 3, 1, relu=False)
            skip = conv_bn(v, cin, cout, 1, stride, relu=False) if (stride != 1 or cin != cout) else v
            i = next(names)
            nodes.append(helper.make_node("Add", [a, skip], [f"add{i}"]))
            v, cin = clip(f"add{i}"), cout
    nodes.append(helper.make_node("GlobalAveragePool", [v], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    init("fc.w", rng.standard_normal((1000, cin), dtype=np.float32) / np.sqrt(cin))
    init("fc.b", np.zeros(1000, np.float32))
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["y"], transB=1))
    graph = helper.make_graph(nodes, f"resnet{depth}",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, resolution, resolution])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model, count[0]


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _one(depth: int, mode: str, resolution: int, calib_resolution: int) -> dict:
    """Runs in a fresh process: generate, save, then time the compile (and map) call."""
    import onnx

    import snncc
    from snncc.pipeline import rate_pipeline

    res = calib_resolution if mode == "calib64" else resolution
    model, weights = resnet_onnx(depth, res)
    onnx_nodes = len(model.graph.node)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"resnet{depth}.onnx"
        onnx.save(model, str(path))
        del model
        calib = None
        if mode == "calib64":
            calib = np.random.default_rng(1).uniform(0, 1, (64, 3, res, res)).astype(np.float32)
        base = _rss_mb()
        start = time.perf_counter()
        # data-free: the rate pipeline without its calibrate pass (balance-thresholds takes theta = c from Clip)
        pipeline = None if calib is not None else rate_pipeline().replace("calibrate,", "")
        graph = snncc.compile(str(path), coding="rate", calibration=calib, pipeline=pipeline)
        seconds = time.perf_counter() - start
        map_seconds = None
        if mode == "map":
            from snncc.backends.coremap import map_graph
            start = time.perf_counter()
            map_graph(graph, "loihi2", None)
            map_seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"depth": depth, "mode": mode, "resolution": res, "onnx_nodes": onnx_nodes, "ir_nodes": len(graph.nodes),
            "weights_mb": weights * 4 / 2 ** 20, "seconds": seconds, "map_seconds": map_seconds,
            "peak_mb": peak, "base_mb": base}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", default="18,34,50")
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--calib-resolution", type=int, default=64)
    parser.add_argument("--modes", default="datafree,calib64")
    parser.add_argument("--map", action="store_true", help="also time mapping the data-free graph onto loihi2")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(int(args.one[0]), args.one[1], args.resolution, args.calib_resolution)))
        return
    modes = args.modes.split(",") + (["map"] if args.map else [])
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rows = []
    for mode in modes:
        for depth in (int(d) for d in args.depths.split(",")):
            out = subprocess.run([sys.executable, __file__, "--one", str(depth), mode, "--resolution",
                                  str(args.resolution), "--calib-resolution", str(args.calib_resolution)],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                raise SystemExit(out.stderr)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\n{'model':<10} {'mode':<9} {'res':>4} {'onnx n':>6} {'ir n':>6} {'weights MB':>10} {'compile s':>9} "
          f"{'map s':>7} {'peak MB':>8} {'growth MB':>9} {'growth/w':>8}")
    for r in rows:
        growth = r["peak_mb"] - r["base_mb"]
        map_s = "-" if r["map_seconds"] is None else f"{r['map_seconds']:.2f}"
        print(f"ResNet-{r['depth']:<3} {r['mode']:<9} {r['resolution']:>4} {r['onnx_nodes']:>6} {r['ir_nodes']:>6} "
              f"{r['weights_mb']:>10.1f} {r['seconds']:>9.2f} {map_s:>7} {r['peak_mb']:>8.0f} {growth:>9.0f} "
              f"{growth / r['weights_mb']:>8.2f}")
    for mode in modes:
        per = [(r["onnx_nodes"], r["seconds"]) for r in rows if r["mode"] == mode]
        print(f"{mode}: seconds per ONNX node " + ", ".join(f"{s / n * 1000:.1f} ms ({n} nodes)" for n, s in per))
    print(f"\nload average (1 min) at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
