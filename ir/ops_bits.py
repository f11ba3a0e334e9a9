"""The bit-serial integrate-and-fire population of `--coding bits` (algorithms.md §3; Datta et al., "Timesteps meet
Bits"). T steps carry 2^T levels: spike t is bit T - t of the neuron's quantized level, most significant first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.ir.node import ConstRef, Node, register_op
from snncc.ir.ops_snn import population_type


def bits_levels(timesteps: int) -> int:
    """L = 2^T - 1: the largest level T bits carry."""
    return (1 << int(timesteps)) - 1


def bits_delta(theta: np.ndarray, timesteps: int) -> np.ndarray:
    """The quantization step Delta = theta / (2^T - 1), in float32."""
    return (np.asarray(theta, np.float32) / np.float32(bits_levels(timesteps))).astype(np.float32)


def bit_serial(current: np.ndarray, theta: np.ndarray, timesteps: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike frames (T, *current.shape) float32 in {0, 1} and per-frame weights (T, *theta.shape) of a bit-serial
    IF neuron whose membrane starts at the complete pre-activation `current` of its window:

        w_t = Delta 2^(T-t);  s(t) = [v >= w_t];  v -= w_t s(t)        (t = 1..T: the threshold halves each step)

    These are the exact float32 operations of the simulator kernel (`BitsNeuronKernel` in
    backends/simulator/kernels/bits_neuron.py), and a test checks that the two agree bit for bit."""
    steps = int(timesteps)
    delta = bits_delta(theta, steps)
    weights = np.stack([(delta * np.float32(1 << (steps - t))).astype(np.float32) for t in range(1, steps + 1)])
    v = np.array(current, dtype=np.float32, copy=True)
    frames = np.zeros((steps,) + v.shape, dtype=np.float32)
    for k in range(steps):
        fired = v >= weights[k]
        frames[k] = fired
        np.subtract(v, weights[k], out=v, where=fired)
    return frames, weights


def bits_decode(frames: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_t w_t s(t), summed MSB first (float32): what the consumer synapses receive over one window."""
    out = np.zeros(frames.shape[1:], dtype=np.float32)
    for k in range(frames.shape[0]):
        out += frames[k] * weights[k]
    return out


def bits_level(frames: np.ndarray) -> np.ndarray:
    """q = sum_t 2^(T-t) s(t): the integer level the frames encode (its popcount is the spike count)."""
    steps = frames.shape[0]
    return sum(frames[k].astype(np.int64) << (steps - 1 - k) for k in range(steps))


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class BitsNeuron(Node):
    """Bit-serial (MSB-first) soft-reset IF population on the layer-windowed schedule; T = timesteps,
    L = 2^T - 1, Delta = theta / L (theta scalar or per channel):

        v = V                          # V: the complete pre-activation integrated over the previous window
        for t = 1..T:  w_t = Delta 2^(T-t);  s(t) = [v >= w_t];  v -= w_t s(t)
        value = sum_t w_t s(t)         # a spike at step t carries w_t (the consumer weights step t by 2^(T-t))

    The level q = sum_t 2^(T-t) s(t) equals clip(floor(V / Delta), 0, L), and the neuron spikes popcount(q)
    times. After `shift-bias` (V = z + Delta/2) the value is QCFS(z; theta, L) exactly. ANN mode evaluates the
    same recursion, so it is the exact function the SNN computes."""

    op = "bits_neuron"
    spiking = True
    theta: ConstRef
    timesteps: int

    def window(self) -> int:
        """Steps of this population's emission window on the layer-windowed schedule (T)."""
        return int(self.timesteps)

    def infer_type(self, input_types, constants):
        if len(input_types) != 1:
            raise ValueError("bits_neuron takes 1 input")
        if not 1 <= int(self.timesteps) <= 24:
            raise ValueError(f"bits_neuron needs 1 <= timesteps <= 24 (float32 levels), got {self.timesteps}")
        return population_type(input_types[0], constants[self.theta])

    def frames(self, v: np.ndarray, constants) -> tuple[np.ndarray, np.ndarray]:
        """Spike frames (T, batch, ...) and per-frame weights of a batch of pre-activations V."""
        return bit_serial(v, constants[self.theta], self.timesteps)

    def evaluate(self, inputs, constants):
        return bits_decode(*self.frames(inputs[0], constants)).astype(inputs[0].dtype, copy=False)
