"""The bit-serial integrate-and-fire population of `--coding bits` (algorithms.md §3; Datta et al., "Timesteps meet
Bits"). T steps carry 2^T levels: spike t is bit T - t of the neuron's quantized level, most significant first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.ir.node import ConstRef, Node, register_op


def bits_levels(timesteps: int) -> int:
    """L = 2^T - 1: the largest level T bits carry."""
    return (1 << int(timesteps)) - 1


def bits_delta(theta: np.ndarray, timesteps: int) -> np.ndarray:
    """The quantization step Delta = theta / (2^T - 1), in float32."""
    return (np.asarray(theta, np.float32) / np.float32(bits_levels(timesteps))).astype(np.float32)


def bit_serial(current: np.ndarray, theta: np.ndarray, timesteps: int) -> list[np.ndarray]:
    """The spike frames s(1..T) (float32 0/1 arrays) of a bit-serial IF neuron whose membrane starts at the
    complete pre-activation `current` of its window:

        w_t = Delta 2^(T-t);  s(t) = [v >= w_t];  v -= w_t s(t)        (t = 1..T, threshold halves each step)

    These are the exact float32 operations the simulator kernel performs (`BitsNeuronKernel`), so ANN mode and
    simulation agree bit for bit."""
    delta = bits_delta(theta, timesteps)
    v = np.array(current, dtype=np.float32, copy=True)
    frames = []
    for t in range(1, int(timesteps) + 1):
        w = (delta * np.float32(1 << (int(timesteps) - t))).astype(np.float32)
        fired = v >= w
        np.subtract(v, w, out=v, where=fired)
        frames.append(fired.astype(np.float32))
    return frames


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class BitsNeuron(Node):
    """Bit-serial (MSB-first) soft-reset IF population, layer-windowed schedule; T = timesteps, L = 2^T - 1,
    Delta = theta / L (theta scalar or per channel):

        v = V                                   # V: the complete pre-activation of the window (bias shifted)
        for t = 1..T:  w_t = Delta 2^(T-t);  s(t) = [v >= w_t];  v -= w_t s(t)
        output = sum_t 2^(T-t) s(t) * out_scale  (out_scale = Delta: the decoded value sum_t w_t s(t))

    The level q = sum_t 2^(T-t) s(t) equals clip(floor(V / Delta), 0, L), and a neuron spikes popcount(q) times.
    After `shift-bias` (V = z + Delta/2) the decoded value is QCFS(z; theta, L) exactly. ANN mode evaluates the
    same recursion, so it is the exact function the SNN computes."""

    op = "bits_neuron"
    spiking = True
    theta: ConstRef
    timesteps: int
    out_scale: ConstRef | None = None

    def infer_type(self, input_types, constants):
        if len(input_types) != 1:
            raise ValueError("bits_neuron takes 1 input")
        if not 1 <= int(self.timesteps) <= 24:
            raise ValueError(f"bits_neuron needs 1 <= timesteps <= 24, got {self.timesteps}")
        np.broadcast_shapes(input_types[0].shape, constants[self.theta].shape)
        return input_types[0]

    def level(self, inputs, constants) -> np.ndarray:
        """q = sum_t 2^(T-t) s(t), the integer level the spike frames encode."""
        frames = bit_serial(inputs[0], constants[self.theta], self.timesteps)
        q = np.zeros(np.broadcast_shapes(*(f.shape for f in frames)), np.float32)
        for t, s in enumerate(frames, start=1):
            q += np.float32(1 << (int(self.timesteps) - t)) * s
        return q

    def evaluate(self, inputs, constants):
        q = self.level(inputs, constants)
        if self.out_scale is not None:
            q = q * constants[self.out_scale]
        return q.astype(inputs[0].dtype, copy=False)
