"""The time-to-first-spike population of `--coding ttfs` (docs/ttfs.md; Stanojevic et al., arXiv 2212.12522 and
2306.08744): each layer owns a window of K steps and codes its ReLU value by the earliness of one spike.

The functions below are the single definition of the neuron's numerics on the IR side; the simulator's kernel
(`backends/simulator/kernels/ttfs_neuron.py`, NumPy-only and self-contained) carries the same few float32 lines,
and a test checks that the two agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.ir.node import ConstRef, Node, register_op
from snncc.ir.ops_snn import population_type


def ttfs_schedule(theta: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(drive, weights), each (K, *theta.shape) float32, for a window of K steps and Delta = theta / K:

        drive[k]   = Delta (k + 1/2)   the layer-wide ramp the membrane has climbed at step k
        weights[k] = Delta (K - k)     what the linear PSP of a spike at step k has reached at the window's end"""
    theta = np.asarray(theta, dtype=np.float32)
    delta = (theta / np.float32(steps)).astype(np.float32)
    k = np.arange(steps, dtype=np.float32).reshape((steps,) + (1,) * theta.ndim)
    drive = (delta * (k + np.float32(0.5))).astype(np.float32)
    weights = (delta * (np.float32(steps) - k)).astype(np.float32)
    return drive, weights


def ttfs_frames(v: np.ndarray, theta: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike frames (K, *v.shape) float32 in {0, 1} and per-frame weights (K, *theta.shape) of one window: the
    membrane starts at the complete pre-activation V and climbs the ramp; the neuron fires once, at the first step

        s_k = [V + drive[k] >= theta] and no spike before k

    These are the exact float32 operations of the simulator kernel (`TTFSNeuronKernel`)."""
    v = np.asarray(v, dtype=np.float32)
    drive, weights = ttfs_schedule(theta, steps)
    theta = np.asarray(theta, dtype=np.float32)
    frames = np.zeros((steps,) + v.shape, dtype=np.float32)
    silent = np.ones(v.shape, dtype=bool)
    for k in range(steps):
        fired = silent & (v + drive[k] >= theta)
        frames[k] = fired
        silent &= ~fired
    return frames, weights


def ttfs_decode(frames: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_k w_k s_k (float32): at most one term is non-zero, so this is exactly the level of the one spike."""
    out = np.zeros(frames.shape[1:], dtype=np.float32)
    for k in range(frames.shape[0]):
        out += frames[k] * weights[k]
    return out


def ttfs_value(v: np.ndarray, theta: np.ndarray, steps: int) -> np.ndarray:
    """`ttfs_decode(*ttfs_frames(v, theta, steps))` without holding K frames (float32, bit for bit the same: the
    sum has one non-zero term)."""
    v = np.asarray(v, dtype=np.float32)
    drive, weights = ttfs_schedule(theta, steps)
    theta = np.asarray(theta, dtype=np.float32)
    out = np.zeros(v.shape, dtype=np.float32)
    silent = np.ones(v.shape, dtype=bool)
    for k in range(steps):
        fired = silent & (v + drive[k] >= theta)
        np.copyto(out, np.broadcast_to(weights[k], v.shape), where=fired)
        silent &= ~fired
    return out


def first_spike_step(frames: np.ndarray) -> np.ndarray:
    """The step of each neuron's spike in its window, -1 for a silent neuron (int64, frames.shape[1:])."""
    fired = frames.any(axis=0)
    return np.where(fired, frames.argmax(axis=0), -1)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class TTFSNeuron(Node):
    """Time-to-first-spike IF population with a linear PSP, on the layer-windowed schedule (Stanojevic et al.).
    K = `steps`, Delta = theta / K (theta scalar or per channel, broadcast-ready):

        u_k = V + Delta (k + 1/2)          # V: the potential the producers' linear PSPs left at the window's start
        s_k = [u_k >= theta] and no spike before k          (k = 0..K-1; at most one spike per window)
        value = Delta (K - k*)  (k* the spike's step; 0 if silent)

    A spike at step k is the time t = t_max - x / s of the exact mapping (s = Delta per step): its linear PSP
    W (t - t_k) reaches W Delta (K - k) at the end of the window, which is the value the consumers integrate.
    value = Delta round(clip(V, 0, theta) / Delta) (half-way cases round up): ReLU clipped at theta on a linear
    grid of K levels. ANN mode evaluates the same recursion, so it is the exact function the SNN computes."""

    op = "ttfs_neuron"
    spiking = True
    theta: ConstRef
    steps: int

    def window(self) -> int:
        """Steps of this population's emission window on the layer-windowed schedule (K)."""
        return int(self.steps)

    def infer_type(self, input_types, constants):
        if len(input_types) != 1:
            raise ValueError("ttfs_neuron takes 1 input")
        if int(self.steps) < 1:
            raise ValueError(f"ttfs_neuron needs steps >= 1, got {self.steps}")
        return population_type(input_types[0], constants[self.theta])

    def frames(self, v: np.ndarray, constants) -> tuple[np.ndarray, np.ndarray]:
        """Spike frames (K, batch, ...) and per-frame weights of a batch of pre-activations V."""
        return ttfs_frames(v, constants[self.theta], self.steps)

    def evaluate(self, inputs, constants):
        return ttfs_value(inputs[0], constants[self.theta], self.steps).astype(inputs[0].dtype, copy=False)
