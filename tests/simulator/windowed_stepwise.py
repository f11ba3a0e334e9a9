"""A step-by-step reference of the layer-windowed schedule, frame by frame: the oracle the one-pass-per-window
shortcut (`kernels/schedule_windowed.py`) is tested against.

Every value is a train of frames in time: {step: the value's synaptic part carried at that step} plus a constant part
(biases, shifts, FS bias offsets; added once per window). The input arrives as one frame before step 0. A windowed
population integrates, event by event, every frame its synapses deliver; its window starts at the step after the
last frame it receives and emits frame k (weighted w_k) at step start + k, its K-step dynamics being the kernel's own
`window_frames`. A linear op maps each frame on its own (its homogeneous part) and its constant part once; a delay
shifts the frames; a first-spike pool relays, per output, the first frame in which any input of its window fires.
Nothing here sums a population's frames before its synapses: that is the shortcut's step, which this checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snncc.backends.simulator import build_program
from snncc.backends.simulator.kernels import WindowedNeuronKernel
from snncc.ir import Graph

LINEAR = {"conv", "dense", "add", "affine", "avg_pool", "global_avg_pool", "flatten", "reshape", "concat",
          "graph_conv"}


@dataclass
class Train:
    """A value in time: frames by step (float64, batched) and the constant part."""

    frames: dict[int, np.ndarray] = field(default_factory=dict)
    const: np.ndarray | float = 0.0

    def ready(self) -> int:
        return max(self.frames, default=-1) + 1

    def total(self) -> np.ndarray:
        return sum(self.frames.values(), np.float64(0)) + self.const


@dataclass
class StepwiseRun:
    """What the reference measured: each windowed population's spike frames (K, N, ...) and window start, and
    the decoded graph outputs."""

    frames: dict[str, np.ndarray]
    starts: dict[str, int]
    outputs: dict[str, np.ndarray]
    latency: int


def _linear(node, constants, trains: list[Train], batch: int, shapes) -> Train:
    zeros = [np.zeros((batch,) + shapes[i]) for i in node.inputs]
    offset = node.evaluate([z.copy() for z in zeros], constants).astype(np.float64)   # L(0): the constant part
    const_in = [np.broadcast_to(t.const, (batch,) + shapes[i]).astype(np.float64) for t, i in zip(trains, node.inputs)]
    out = Train(const=node.evaluate(const_in, constants).astype(np.float64))
    for step in sorted({s for t in trains for s in t.frames}):
        frame = [t.frames.get(step, z) for t, z in zip(trains, zeros)]
        out.frames[step] = node.evaluate(frame, constants).astype(np.float64) - offset
    return out


def _first_spike_pool(node, constants, train: Train) -> Train:
    out = Train(const=node.evaluate([np.asarray(train.const + np.zeros(1))], constants) if np.any(train.const) else 0.0)
    fired = None
    for step in sorted(train.frames):
        pooled = node.evaluate([train.frames[step]], constants).astype(np.float64)
        fired = np.zeros(pooled.shape, bool) if fired is None else fired
        relay = (pooled > 0) & ~fired
        out.frames[step] = np.where(relay, pooled, 0.0)
        fired |= relay
    return out


def run_stepwise(graph: Graph, x: np.ndarray) -> StepwiseRun:
    """Simulate a windowed graph on `x` step by step (see the module docstring)."""
    program = build_program(graph)
    kernels = {k.name: k for k in program.kernels}
    shapes = {n.name: n.type.shape for n in graph.nodes}
    constants = graph.constants
    batch = len(x)
    trains: dict[str, Train] = {}
    frames, starts = {}, {}
    for node in graph.nodes:
        inputs = [trains[i] for i in node.inputs]
        kernel = kernels[node.name]
        if node.op == "input":
            trains[node.name] = Train(frames={-1: np.asarray(x, np.float64)})
        elif isinstance(kernel, WindowedNeuronKernel):
            (source,) = inputs
            start = source.ready()
            v = np.zeros((batch,) + shapes[node.name]) + source.const
            for step in sorted(source.frames):       # event by event, in time order
                v = v + source.frames[step]
            spikes, weights = kernel.window_frames(v.astype(np.float32))
            frames[node.name], starts[node.name] = spikes, start
            offset = float(getattr(kernel, "bias_offset", 0.0))
            trains[node.name] = Train(frames={start + k: spikes[k].astype(np.float64) * np.asarray(weights[k], np.float64)
                                              for k in range(len(spikes))}, const=offset)
        elif node.op == "delay":
            (source,) = inputs
            trains[node.name] = Train({s + int(node.steps): f for s, f in source.frames.items()}, source.const)
        elif node.op == "first_spike_pool":
            trains[node.name] = _first_spike_pool(node, constants, inputs[0])
        elif node.op in LINEAR:
            trains[node.name] = _linear(node, constants, inputs, batch, shapes)
        else:   # a non-spiking op (mul): evaluated on its inputs' complete values, one frame when they are ready
            value = node.evaluate([t.total() for t in inputs], constants).astype(np.float64)
            trains[node.name] = Train({max(t.ready() for t in inputs): value})
    outputs = {name: trains[name].total() for name in graph.outputs}
    return StepwiseRun(frames, starts, outputs, max(trains[name].ready() for name in graph.outputs))
