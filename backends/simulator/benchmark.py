"""Speed of the simulator's synaptic paths on a small rate-coded conv net (`python -m
snncc.backends.simulator.benchmark`).

The net (28x28 input): conv 1->16 3x3 -> IF -> avg_pool 2 -> conv 16->32 3x3 -> IF -> avg_pool 2 -> flatten ->
dense 1568->128 -> IF -> dense 128->10 (`--strided`: stride-2 convs 16->32 and 32->32 instead of the pools), random He-initialised weights, thresholds balanced layer by layer to the
99.9th percentile of the ANN-mode input current (so firing rates are those of a balanced converted net; the
accuracy is meaningless). Prints samples/s per synaptic path, the path each layer took and the spike density.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from snncc.backends.simulator import build_program, simulate
from snncc.ir import (AvgPool, ConstRef, Conv, Dense, Flatten, Graph, IFNeuron, Input, TensorType, run)

MNIST = Path(__file__).resolve().parents[2] / "models" / "data" / "mnist_test.npz"


def balanced_conv_net(x_calib: np.ndarray, seed: int = 0, percentile: float = 99.9, strided: bool = False) -> Graph:
    """The benchmark net with per-layer theta = percentile of its neuron's ANN-mode input current. `strided`
    replaces the avg_pool layers by stride-2 convs, so every conv reads binary spikes."""
    rng = np.random.default_rng(seed)
    nodes, consts = [Input(name="x", type=TensorType((1, 28, 28)))], {}

    def add(cls, name, src, out_shape, **attrs):
        nodes.append(cls(name=name, inputs=(src,), type=TensorType(out_shape), **attrs))
        return name

    def weights(name, shape, fan_in):
        consts[f"{name}.w"] = rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32)
        consts[f"{name}.b"] = rng.normal(0, 0.05, shape[0]).astype(np.float32)
        return dict(weight=ConstRef(f"{name}.w"), bias=ConstRef(f"{name}.b"))

    def neuron(name, src, shape, channel_shape):
        consts[f"{name}.theta"] = np.full(channel_shape, 1e9, np.float32)   # ~ReLU until balanced
        return add(IFNeuron, name, src, shape, theta=ConstRef(f"{name}.theta"), out_scale=ConstRef(f"{name}.theta"),
                   v0=0.5)

    h = add(Conv, "conv1", "x", (16, 28, 28), pads=(1, 1, 1, 1), **weights("conv1", (16, 1, 3, 3), 9))
    h = neuron("if1", h, (16, 28, 28), ())
    if strided:
        h = add(Conv, "conv2", h, (32, 14, 14), strides=(2, 2), pads=(1, 1, 1, 1),
                **weights("conv2", (32, 16, 3, 3), 144))
        h = neuron("if2", h, (32, 14, 14), ())
        h = add(Conv, "conv3", h, (32, 7, 7), strides=(2, 2), pads=(1, 1, 1, 1),
                **weights("conv3", (32, 32, 3, 3), 288))
        h = neuron("if3", h, (32, 7, 7), ())
        h = add(Flatten, "flat", h, (1568,))
        layers = (("if1", "conv1"), ("if2", "conv2"), ("if3", "conv3"))
    else:
        h = add(AvgPool, "pool1", h, (16, 14, 14), kernel=(2, 2), strides=(2, 2))
        h = add(Conv, "conv2", h, (32, 14, 14), pads=(1, 1, 1, 1), **weights("conv2", (32, 16, 3, 3), 144))
        h = neuron("if2", h, (32, 14, 14), ())
        h = add(AvgPool, "pool2", h, (32, 7, 7), kernel=(2, 2), strides=(2, 2))
        h = add(Flatten, "flat", h, (1568,))
        layers = (("if1", "conv1"), ("if2", "conv2"))
    h = add(Dense, "fc1", h, (128,), **weights("fc1", (128, 1568), 1568))
    h = neuron("if4", h, (128,), ())
    add(Dense, "fc2", h, (10,), **weights("fc2", (10, 128), 128))
    graph = Graph.build(nodes, ["fc2"], consts)
    for layer, current in layers + (("if4", "fc1"),):
        values = run(graph, x_calib, keep=[current])[current]
        consts[f"{layer}.theta"] = np.array(max(np.percentile(values, percentile), 1e-3), np.float32)
        graph = Graph.build(nodes, ["fc2"], consts)
    return graph


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--timesteps", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--paths", default="dense,event,auto")
    parser.add_argument("--strided", action="store_true", help="stride-2 convs instead of avg_pool")
    parser.add_argument("--percentile", type=float, default=99.9, help="threshold balancing percentile")
    args = parser.parse_args(argv)
    if MNIST.exists():
        x = np.load(MNIST)["x"][:args.samples]
    else:
        x = np.random.default_rng(1).uniform(0, 1, (args.samples, 1, 28, 28)).astype(np.float32)
    graph = balanced_conv_net(x[:256], percentile=args.percentile, strided=args.strided)
    program = build_program(graph)
    reference = None
    for path in args.paths.split(","):
        simulate(program, x[:args.batch_size], 2, batch_size=args.batch_size, synaptic_path=path)   # warm up
        start = time.perf_counter()
        result = simulate(program, x, args.timesteps, batch_size=args.batch_size, synaptic_path=path)
        seconds = time.perf_counter() - start
        out = result.outputs[args.timesteps]
        reference = out if reference is None else reference
        print(f"{path:6} {len(x) / seconds:8.1f} samples/s  ({seconds:.2f} s; T={args.timesteps}, "
              f"batch {args.batch_size})  max |out - first| = {np.abs(out - reference).max():.2e}")
    sizes = {k.name: int(np.prod(k.shape)) for k in program.kernels}
    print("spike density per step: " + ", ".join(
        f"{name} {rate / sizes[name] / args.timesteps:.3f}" for name, rate in result.spikes_per_layer.items()))
    print(f"synops/sample {result.synops_per_sample:.3g}  ANN MACs/sample {result.ann_macs_per_sample:.3g}  "
          f"energy ANN/SNN {result.energy_ratio:.2f}")


if __name__ == "__main__":
    main()
