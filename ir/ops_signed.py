"""The dual-threshold (signed-spike) IF population of `--coding signed` (algorithms.md §5; error-compensation
learning, Liu et al. ICML 2025)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.ir.node import ConstRef, Node, register_op


def dual_threshold(currents, theta, theta_n: float = 0.0, v0: float = 0.5):
    """Reference recursion over a sequence of input currents I(1..T) (each broadcastable against theta); returns
    the list of signed spike frames s(t) in {-1, 0, +1} (float32). The simulator kernel (`SignedNeuronKernel`)
    performs the same float32 operations.

        v = v0 theta;  n = 0
        v += I(t)
        s = +1 if v >= theta;  s = -1 if v < theta_n theta and n > 0;  else 0
        v -= theta s;  n += s
    """
    theta = np.asarray(theta, np.float32)
    low = (np.float32(theta_n) * theta).astype(np.float32) if np.isfinite(theta_n) else None
    v = None
    n = None
    frames = []
    for current in currents:
        current = np.asarray(current, np.float32)
        if v is None:
            v = np.broadcast_to(np.float32(v0) * theta, np.broadcast_shapes(current.shape, theta.shape)).copy()
            n = np.zeros(v.shape, np.float32)
        v += current
        pos = v >= theta
        s = pos.astype(np.float32)
        if low is not None:
            neg = (v < low) & (n > 0) & ~pos
            s -= neg.astype(np.float32)
        np.subtract(v, theta * s, out=v)
        n += s
        frames.append(s)
    return frames


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class SignedNeuron(Node):
    """Dual-threshold soft-reset IF population with signed spikes, concurrent schedule (theta scalar or per
    channel; theta_n and v0 are fractions of theta):

        v(0) = v0 theta;  n(0) = 0
        v(t) = v(t-1) + I(t)
        s(t) = +1 if v >= theta;  -1 if v < theta_n theta and n > 0;  else 0
        v(t) -= theta s(t);  n(t) = n(t-1) + s(t);  output(t) = s(t) * out_scale

    A -1 spike cancels an earlier excess +1 spike, so n never goes below 0 and the running count tracks
    round(sum I / theta) from both sides. theta_n = -inf gives plain soft-reset IF with v(0) = v0 theta.

    ANN mode: on a constant current the count after T = timesteps steps is clip(floor(I T / theta + v0), 0, T)
    (no -1 spike fires when theta_n <= 0), so the decoded rate is QCFS(I; theta, L = T) / theta * out_scale."""

    op = "signed_neuron"
    spiking = True
    theta: ConstRef
    timesteps: int
    out_scale: ConstRef | None = None
    v0: float = 0.5
    theta_n: float = 0.0

    def infer_type(self, input_types, constants):
        if len(input_types) != 1:
            raise ValueError("signed_neuron takes 1 input")
        if int(self.timesteps) < 1:
            raise ValueError(f"signed_neuron needs timesteps >= 1, got {self.timesteps}")
        np.broadcast_shapes(input_types[0].shape, constants[self.theta].shape)
        return input_types[0]

    def evaluate(self, inputs, constants):
        theta = constants[self.theta]
        steps = np.float32(self.timesteps)
        count = np.clip(np.floor(inputs[0] * steps / theta + np.float32(self.v0)), 0, steps)
        rate = (count / steps).astype(inputs[0].dtype, copy=False)
        if self.out_scale is not None:
            rate = (rate * constants[self.out_scale]).astype(inputs[0].dtype, copy=False)
        return rate
