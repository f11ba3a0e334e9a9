"""Where the event-driven synaptic paths start to pay: the crossover densities stored in
`backends/simulator/kernels/base.py` (EVENT_CROSSOVER_CONV, EVENT_CROSSOVER_DENSE) come from this script.

    python benchmarks/event_crossover.py [--batch 64] [--repeat 5]

For mnist_cnn's synaptic layer shapes (conv 1->16 on 28x28, 16->32 on 14x14, 32->32 on 7x7, all 3x3 pad 1 with a
bias; dense 288->64 and a larger
2048->512), a one-layer program with Bernoulli input spikes of element density d is bound at batch B, and
one layer step is timed (median of --repeat runs of 16 steps, the input drawn outside the timing) on

    dense    im2col + BLAS (conv), X W^T (dense)
    event    the kernel's event path: active input pixels x their weight taps, scattered per tap (conv); the
             cheaper of per-row gather and active-column union W[:, U] x[U] (dense)
    columns  (conv only, for comparison) im2col on the active output columns only, then W @ cols and a scatter

The conv event path's cost follows the fraction of active input pixels (any channel), the dense one's the element
density, so the table prints those and marks where `event` beats `dense`; the crossover is the largest measured
density at which the event path is still faster. One BLAS thread (as the runner uses).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from snncc.backends.simulator import kernels  # noqa: E402

CONVS = [("conv 1->16 28x28", (1, 28, 28), 16), ("conv 16->32 14x14", (16, 14, 14), 32),
         ("conv 32->32 7x7", (32, 7, 7), 32)]
DENSITIES = (0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32)


def one_layer(op, in_shape, out):
    rng = np.random.default_rng(0)
    if op == "conv":
        weight = rng.normal(0, 0.3, (out, in_shape[0], 3, 3)).astype(np.float32)
        layer = {"name": "y", "op": "conv", "inputs": ["x"], "shape": [out, in_shape[1], in_shape[2]],
                 "attrs": {"strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "groups": 1},
                 "consts": {"weight": "w", "bias": "b"}}
    else:
        weight = rng.normal(0, 0.3, (out, in_shape[0])).astype(np.float32)
        layer = {"name": "y", "op": "dense", "inputs": ["x"], "shape": [out], "attrs": {"axis": -1},
                 "consts": {"weight": "w", "bias": "b"}}
    description = {"format": kernels.FORMAT, "version": kernels.FORMAT_VERSION, "schedule": "concurrent",
                   "inputs": ["x"], "outputs": ["y"], "meta": {},
                   "nodes": [{"name": "x", "op": "input", "inputs": [], "shape": list(in_shape), "attrs": {},
                              "consts": {}}, layer]}
    return kernels.Program(description, {"w": weight, "b": rng.normal(0, 0.1, out).astype(np.float32)})


def columns_step(conv):
    """im2col restricted to the output columns whose receptive field holds an event, W @ cols, scattered back."""
    batch, p = conv.batch, conv.out_pixels
    pixel = conv._pixel_mask
    np.any(conv.events_flat, axis=1, out=pixel)
    h, w = conv.input_shapes[0][1:]
    padded = np.zeros((batch, h + 2, w + 2), bool)
    padded[:, 1:-1, 1:-1] = pixel.reshape(batch, h, w)
    active = np.take(padded.reshape(batch, -1), conv.gather, axis=1).any(axis=1)          # (B, P)
    n, q = np.divmod(np.flatnonzero(active), p)
    conv.padded.refresh()
    index = (n * conv.padded.flat[0].size)[None, :] + conv.column_index[:, q]
    cols = conv.padded.flat.reshape(-1)[index]
    conv.out_flat.fill(0)
    conv.out_flat[n, :, q] = (conv.weight_mat[0] @ cols).T


def time_layer(program, density, mode, batch, repeat):
    x = np.full((batch,) + program.shapes["x"], density, np.float32)
    run = kernels.RunOptions("poisson", 0, "event" if mode == "columns" else mode)
    program.bind({"x": x}, batch, run)
    source, layer = program.kernels
    if mode == "columns":
        c, hp_wp = layer.in_channels, (layer.input_shapes[0][1] + 2) * (layer.input_shapes[0][2] + 2)
        layer.column_index = (np.arange(c)[:, None, None] * hp_wp + layer.gather[None]).reshape(-1, layer.out_pixels)
    times, pixels = [], []
    for _ in range(repeat):
        total = 0.0
        for t in range(1, 17):
            source.step(t)
            start = time.perf_counter()
            columns_step(layer) if mode == "columns" else layer.step(t)
            total += time.perf_counter() - start
            if layer.op == "conv":
                pixels.append(np.any(source.spikes, axis=1).mean())
        times.append(total / 16)
    return statistics.median(times), float(np.mean(pixels)) if pixels else density


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="only the layers whose name contains this")
    args = parser.parse_args(argv)
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}; batch {args.batch}; ms per step, median of {args.repeat}")
    cases = [(name, "conv", shape, out) for name, shape, out in CONVS] + [
        ("dense 288->64", "dense", (288,), 64), ("dense 2048->512", "dense", (2048,), 512)]
    if args.only:
        cases = [c for c in cases if args.only in c[0]]
    for name, op, shape, out in cases:
        program = one_layer(op, shape, out)
        modes = ("dense", "event", "columns") if op == "conv" else ("dense", "event")
        print(f"\n{name}\n{'density':>8} {'pixels':>7} " + " ".join(f"{m:>8}" for m in modes) + "  faster")
        crossover = 0.0
        for density in DENSITIES:
            figures = {m: time_layer(program, density, m, args.batch, args.repeat) for m in modes}
            active = figures["event"][1]
            ms = {m: f[0] * 1e3 for m, f in figures.items()}
            best = min(ms, key=ms.get)
            if ms["event"] < ms["dense"]:
                crossover = active
            print(f"{density:>8.3f} {active:>7.3f} " + " ".join(f"{ms[m]:>8.3f}" for m in modes) + f"  {best}")
        measure = "active-pixel fraction" if op == "conv" else "element density"
        print(f"event path faster up to {measure} {crossover:.3f}")


if __name__ == "__main__":
    main()
