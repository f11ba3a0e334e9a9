"""Compiler memory per stage and per pass (tracemalloc), on compile_scale.py's ResNet-shaped models, data-free.

    python benchmarks/compile_memory.py --depth 50          # ResNet-50-shaped, 224 x 224, ~98 MiB of float32 weights

Stages: `load_onnx` (safe load, checker, onnxscript constant folding, shape inference), `onnx_to_ir`, then every pass
of the data-free rate pipeline as the pass manager runs it. For each: the Python heap traced after it (`live MiB`,
what the process still holds: the graph, plus anything a stage leaks) and its peak while it ran (`peak MiB`), both as
multiples of the weights. tracemalloc sees NumPy's buffers and protobuf's Python objects but not protobuf's C++
arena, so the process's peak RSS (printed last, ru_maxrss; it includes generating the model in this process) can be
higher. Measures only; tracemalloc slows the
compile down several times.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compile_scale import resnet_onnx  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--resolution", type=int, default=224)
    args = parser.parse_args(argv)
    import onnx

    from snncc.frontend.convert import onnx_to_ir
    from snncc.frontend.load import load_onnx
    from snncc.passes.manager import PassContext, PassManager
    from snncc.pipeline import rate_pipeline

    model, weights = resnet_onnx(args.depth, args.resolution)
    weights_mb = weights * 4 / 2 ** 20
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        onnx.save(model, str(path))
        del model
        import onnxscript.optimizer  # noqa: F401 - imported before tracing: the table counts data, not modules

        gc.collect()
        tracemalloc.start()

        def record(stage, start):
            live, peak = tracemalloc.get_traced_memory()
            rows.append((stage, time.perf_counter() - start, live / 2 ** 20, peak / 2 ** 20))
            tracemalloc.reset_peak()

        start = time.perf_counter()
        proto = load_onnx(str(path))
        record("load_onnx", start)
        start = time.perf_counter()
        graph = onnx_to_ir(proto)
        record("onnx_to_ir", start)
        del proto
        gc.collect()
        record("(ModelProto dropped)", time.perf_counter())
        manager = PassManager(rate_pipeline().replace("calibrate,", ""))
        original = manager._run_one

        def traced(name, options, g, ctx, done):
            begin = time.perf_counter()
            out = original(name, options, g, ctx, done)
            record(name, begin)
            return out
        manager._run_one = traced
        graphs = [graph]
        del graph     # as snncc.compile does: the manager holds the only reference to the imported graph
        graph = manager.run_taking(graphs, PassContext())
        tracemalloc.stop()
    print(f"ResNet-{args.depth}-shaped, {args.resolution}x{args.resolution}, weights {weights_mb:.1f} MiB (float32), "
          f"{len(graph.nodes)} IR nodes")
    print(f"{'stage':<28} {'s':>6} {'live MiB':>9} {'x w':>5} {'peak MiB':>9} {'x w':>5}")
    for stage, seconds, live, peak in rows:
        print(f"{stage:<28} {seconds:>6.1f} {live:>9.1f} {live / weights_mb:>5.2f} {peak:>9.1f} "
              f"{peak / weights_mb:>5.2f}")
    print(f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
