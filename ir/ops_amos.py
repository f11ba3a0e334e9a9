"""Ops of `--coding amos` (algorithms.md §2, AMOS / FS neurons).

- `gate`: an ANN gate y = f(x) named by a registered `snncc.gates.Gate` (the hook for user gates such as Softplus;
  the built-in gates have their own ops in ops_ann.py).
- `fs_neuron`: a population in which every unit is the FS circuit of one gate: K sub-neurons with thresholds T(t),
  resets h(t) and output weights d(t), each spiking at most once, on the layer-windowed schedule. The circuit is
  shared by the whole population, or, with `channel_circuits`, each channel has its own (a staircase cut over that
  channel's calibrated range, `snncc.gates.levels`).

The circuit's numerics are `snncc.gates.fs_forward` (float64, then float32 for the graph). The simulator's kernel
(`FSNeuronKernel` in backends/simulator/kernels/fs_neuron.py, which must stay NumPy-only and self-contained)
carries the same few lines, and a test checks that the two agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.ir.node import ConstRef, Node, register_op


def _one_input(node: Node, input_types):
    if len(input_types) != 1:
        raise ValueError(f"{node.op} takes 1 input, got {len(input_types)}")
    return input_types[0]


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class GateOp(Node):
    """y = f(x) elementwise, f the gate registered under `gate` in `snncc.gates` (`register_gate`). ANN mode
    evaluates f in float64 and returns float32. `--coding amos` lowers it to an `fs_neuron`."""

    op = "gate"
    gate: str

    def infer_type(self, input_types, constants):
        return _one_input(self, input_types)

    def evaluate(self, inputs, constants):
        from snncc.gates import get_gate

        x = inputs[0]
        y = np.asarray(get_gate(self.gate).function(x.astype(np.float64)), dtype=np.float64)
        if y.shape != x.shape:
            raise ValueError(f"gate {self.gate!r} returned shape {y.shape} for input shape {x.shape}")
        return y.astype(x.dtype, copy=False)


def fs_circuit_frames(x: np.ndarray, thresholds, resets, ge: bool) -> np.ndarray:
    """Spike frames (K, *x.shape) bool of the FS circuit on inputs x (float64 membrane):

        v(1) = x;  z(t) = [v(t) > T(t)]  ([>=] when ge);  v(t+1) = v(t) - h(t) z(t)        t = 1..K

    T(t) and h(t) are numbers, or arrays that broadcast against x (per-channel circuits, `FSNeuron.parameters`)."""
    v = np.array(x, dtype=np.float64)
    frames = np.empty((len(thresholds),) + v.shape, dtype=bool)
    for t, (threshold, reset) in enumerate(zip(thresholds, resets)):
        z = (v >= threshold) if ge else (v > threshold)
        frames[t] = z
        v -= reset * z
    return frames


def channel_view_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of a per-channel array that broadcasts against per-sample `shape` (and a batch of it): the channel
    axis is the first of (C,), (C, H, W), ..., the last of (nodes, features), as in `snncc.passes.channel_axis`."""
    if not shape:
        return ()
    axis = len(shape) - 1 if len(shape) == 2 else 0
    return tuple(d if i == axis else 1 for i, d in enumerate(shape))


def fs_circuit_decode(frames: np.ndarray, weights, bias_offset) -> np.ndarray:
    """y = sum_t d(t) z(t) + e in float64, summed in step order (what `fs_forward` computes); d(t) and e numbers or
    arrays that broadcast against a frame."""
    y = np.zeros(frames.shape[1:], dtype=np.float64)
    for t, weight in enumerate(weights):
        y += weight * frames[t]
    y += bias_offset
    return y


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class FSNeuron(Node):
    """A population of FS / AMOS circuits (Stoeckl & Maass 2021), one per unit, all with the same parameters
    (K = `steps`, thresholds T, resets h, output weights d, bias offset e; algorithms.md §2.2):

        v(1) = x                                   x: the complete pre-activation of the previous window
        z(t) = [v(t) > T(t)]   ([>=] when `ge`)     t = 1..K; sub-neuron t is evaluated only at step t,
        v(t+1) = v(t) - h(t) z(t)                  so it spikes at most once per window
        y = sum_t d(t) z(t) + e

    Spike t reaches a consumer with synapse weight W * d(t); e (nonzero only for an affine reuse such as
    tanh = 2 sigmoid(2x) - 1) is a constant current the consumers receive every window. `gate` names the gate the
    circuit emulates, `x_range` the input range it was fitted or built for, `max_abs_error` and `mse` its error
    against the exact gate on that range. ANN mode evaluates exactly this circuit function (`snncc.gates.fs_forward`),
    so the network it describes is the ANN with every gate replaced by its circuit.

    `channel_circuits`, when set, names a float64 constant (C, 3K + 1): row c is channel c's own circuit
    [T(1..K), h(1..K), d(1..K), e] (a staircase cut over that channel's calibrated range); the tuples then hold the
    layer-wide circuit the channels were cut like (`x_range`, errors: the worst channel's). Only such nodes write the
    attribute, so the text of a population with one shared circuit is what it always was. Every consumer reads the
    parameters through `parameters`.
    """

    op = "fs_neuron"
    spiking = True
    gate: str
    steps: int
    thresholds: tuple[float, ...]
    resets: tuple[float, ...]
    weights: tuple[float, ...]
    ge: bool = False
    bias_offset: float = 0.0
    x_range: tuple[float, ...] = (0.0, 1.0)
    max_abs_error: float = 0.0
    mse: float = 0.0
    channel_circuits: ConstRef | None = None

    def attributes(self):
        for key, value in Node.attributes(self):
            if key != "channel_circuits" or value is not None:
                yield key, value

    def window(self) -> int:
        """Steps of this population's emission window on the layer-windowed schedule (K)."""
        return int(self.steps)

    def infer_type(self, input_types, constants):
        t = _one_input(self, input_types)
        k = int(self.steps)
        if k < 1:
            raise ValueError(f"fs_neuron needs steps >= 1, got {self.steps}")
        for field_name in ("thresholds", "resets", "weights"):
            values = getattr(self, field_name)
            if len(values) != k:
                raise ValueError(f"fs_neuron {field_name} has {len(values)} values for steps={k}")
            if not all(np.isfinite(float(v)) for v in values):
                raise ValueError(f"fs_neuron {field_name} holds a non-finite value")
        if not np.isfinite(float(self.bias_offset)):
            raise ValueError("fs_neuron bias_offset must be finite")
        if self.channel_circuits is not None:
            table = np.asarray(constants[self.channel_circuits])
            channels = int(np.prod(channel_view_shape(t.shape)))
            if table.dtype != np.float64 or table.shape != (channels, 3 * k + 1):
                raise ValueError(f"fs_neuron channel_circuits must be f64[{channels},{3 * k + 1}] (one circuit "
                                 f"per channel), got {table.dtype}{list(table.shape)}")
            if not np.all(np.isfinite(table)):
                raise ValueError("fs_neuron channel_circuits holds a non-finite value")
        return t

    def parameters(self, constants) -> tuple:
        """(T, h, d, e): the shared circuit's tuples and float, or, with `channel_circuits`, arrays T, h, d of shape
        (K, *view) and e of shape view, where view broadcasts against a batch of per-sample values (C at the channel
        axis, 1 elsewhere: `channel_view_shape`)."""
        if self.channel_circuits is None:
            return self.thresholds, self.resets, self.weights, float(self.bias_offset)
        k = int(self.steps)
        table = np.asarray(constants[self.channel_circuits], dtype=np.float64)
        view = channel_view_shape(self.type.shape)
        steps = [np.ascontiguousarray(table[:, i * k:(i + 1) * k].T).reshape((k,) + view) for i in range(3)]
        return steps[0], steps[1], steps[2], table[:, 3 * k].reshape(view)

    def circuit(self):
        """The parameters as a `snncc.gates.FSCircuit`."""
        from snncc.gates import FSCircuit

        return FSCircuit(gate=self.gate, K=int(self.steps), x_range=tuple(self.x_range), thresholds=self.thresholds,
                         resets=self.resets, output_weights=self.weights, ge=bool(self.ge),
                         bias_offset=float(self.bias_offset), max_abs_error=float(self.max_abs_error),
                         mse=float(self.mse))

    def frames(self, x: np.ndarray, constants=None) -> np.ndarray:
        """Spike frames (K, batch, ...) bool of a batch of pre-activations (`constants`: the graph's, needed with
        `channel_circuits`)."""
        thresholds, resets, _, _ = self.parameters(constants)
        return fs_circuit_frames(x, thresholds, resets, bool(self.ge))

    def evaluate(self, inputs, constants):
        from snncc.gates import fs_forward

        x = inputs[0]
        if self.channel_circuits is None:
            y, _ = fs_forward(x, self.circuit())
        else:
            thresholds, resets, weights, bias_offset = self.parameters(constants)
            y = fs_circuit_decode(fs_circuit_frames(x, thresholds, resets, bool(self.ge)), weights, bias_offset)
        return y.astype(x.dtype, copy=False)
