"""Dual-threshold IF population with signed spikes (signed coding, concurrent); same numerics as
`snncc.ir.ops_signed`."""

from functools import partial

import numpy as np

from .base import NeuronKernel, per_sample, register_neuron_kernel, zeros_buffer


@register_neuron_kernel("signed_neuron")
class SignedNeuronKernel(NeuronKernel):
    """Dual-threshold soft-reset IF population with signed spikes (error-compensation learning; algorithms.md §5):

        v(0) = v0 theta;  n(0) = 0
        v += I(t);  s = +1 if v >= theta;  s = -1 if v < theta_n theta and n > 0;  else 0
        v -= theta s;  n += s

    (theta_n and v0 are fractions of theta; theta_n = -inf: plain IF). Spikes are events of value +-1 (counted as
    |s|). Same float32 operations as `snncc.ir.ops_signed.dual_threshold` (tested bit for bit)."""

    signed = True

    def setup(self):
        super().setup()
        self.theta = self.const("theta")
        if self.theta is None or np.any(self.theta <= 0):
            self.fail("needs a positive theta")
        self.v0 = float(self.attr("v0", 0.5))
        theta_n = self.attr("theta_n", 0.0)
        theta_n = float("-inf") if theta_n is None else float(theta_n)
        self.low = (np.float32(theta_n) * self.theta).astype(np.float32) if np.isfinite(theta_n) else None
        self.theta_full = per_sample(self.theta, self.shape)
        self.low_full = None if self.low is None else per_sample(self.low, self.shape)

    def reset(self, batch):
        self.v = zeros_buffer(batch, self.shape)
        self.v[...] = np.float32(self.v0) * self.theta
        self.n = zeros_buffer(batch, self.shape)
        self._pos = np.zeros((batch,) + self.shape, dtype=bool)
        self._neg = np.zeros((batch,) + self.shape, dtype=bool)
        self._charge = zeros_buffer(batch, self.shape)
        self._flag = np.zeros((batch,) + self.shape, dtype=bool)

    def fire(self, current, t):
        self.v += current
        np.greater_equal(self.v, self.theta_full, out=self._pos)
        np.copyto(self.spikes, self._pos)
        if self.low_full is not None:
            np.less(self.v, self.low_full, out=self._neg)
            self._neg &= self.n > 0
            self._neg &= ~self._pos
            self.spikes -= self._neg
        np.multiply(self.spikes, self.theta_full, out=self._charge)
        self.v -= self._charge
        self.n += self.spikes

    def step_ops(self):
        """fire, emit and count (`NeuronKernel.step`) as numpy calls into preallocated buffers (the same results:
        `_neg &= n > 0` and `_neg &= ~_pos` through a bool scratch buffer)."""
        v, spikes, pos, neg, flag = self.v, self.spikes, self._pos, self._neg, self._flag
        ops = [partial(np.add, v, self.current, out=v),
               partial(np.greater_equal, v, self.theta_full, out=pos),
               partial(np.copyto, spikes, pos)]
        if self.low_full is not None:
            ops += [partial(np.less, v, self.low_full, out=neg),
                    partial(np.greater, self.n, 0, out=flag), partial(np.bitwise_and, neg, flag, out=neg),
                    partial(np.invert, pos, out=flag), partial(np.bitwise_and, neg, flag, out=neg),
                    partial(np.subtract, spikes, neg, out=spikes)]
        ops += [partial(np.multiply, spikes, self.theta_full, out=self._charge),
                partial(np.subtract, v, self._charge, out=v),
                partial(np.add, self.n, spikes, out=self.n)]
        if self.out_scale is not None:
            ops.append(partial(np.multiply, spikes, self.event_scale, out=self.value))
        ops += [partial(np.abs, spikes, out=self._abs), partial(np.add, self.counts, self._abs, out=self.counts)]
        return ops
