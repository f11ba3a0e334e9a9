"""Soft-reset integrate-and-fire population (rate coding, concurrent schedule)."""

from functools import partial

import numpy as np

from .base import NeuronKernel, per_sample, register_neuron_kernel, zeros_buffer


@register_neuron_kernel("if_neuron")
class IFNeuronKernel(NeuronKernel):
    """Soft-reset (reset-by-subtraction) integrate-and-fire population:

        v(0) = v0 * theta
        v(t) = v(t-1) + I(t);  s(t) = [v(t) >= theta];  v(t) <- v(t) - theta * s(t)

    theta is a scalar or broadcast-ready per channel, e.g. (C, 1, 1). With constant current I and v0 = 1/2 the spike
    count after T steps is clip(floor(I T / theta + 1/2), 0, T).
    """

    def setup(self):
        super().setup()
        self.theta = self.const("theta")
        if self.theta is None:
            self.fail("has no theta")
        if np.any(self.theta <= 0):
            self.fail("theta must be positive")
        self.v0 = float(self.attr("v0", 0.0))
        self.theta_full = per_sample(self.theta, self.shape)

        # rate coding reads a spike as theta (out_scale = theta): the emitted value is then the reset charge itself
        self.scale_is_theta = self.out_scale is not None and self.out_scale.shape == self.theta.shape \
            and np.array_equal(self.out_scale, self.theta)

    def reset(self, batch):
        self.v = zeros_buffer(batch, self.shape)
        self.v[...] = np.float32(self.v0) * self.theta
        self._charge = self.value if self.scale_is_theta else zeros_buffer(batch, self.shape)
        self._fired = np.zeros((batch,) + self.shape, dtype=bool)

    def fire(self, current, t):
        self.v += current
        # a bool comparison and a copy into the float32 spikes: 2x faster than comparing straight into float32 (whose
        # casting loop measured 2-4.6 ms on 3.2M neurons against 0.7 + 1.3 ms)
        np.greater_equal(self.v, self.theta_full, out=self._fired)
        np.copyto(self.spikes, self._fired)
        # v - theta * s: the same floats as subtracting theta where s = 1 (a masked subtract is ~10x slower)
        np.multiply(self.spikes, self.theta_full, out=self._charge)
        self.v -= self._charge

    def emit(self, t):
        if not self.scale_is_theta:      # else fire() already wrote spikes * theta into the value
            super().emit(t)

    def step_ops(self):
        """fire, emit and count (`NeuronKernel.step`) as the same numpy calls."""
        v, spikes = self.v, self.spikes
        ops = [partial(np.add, v, self.current, out=v),
               partial(np.greater_equal, v, self.theta_full, out=self._fired),
               partial(np.copyto, spikes, self._fired),
               partial(np.multiply, spikes, self.theta_full, out=self._charge),
               partial(np.subtract, v, self._charge, out=v)]
        if not self.scale_is_theta and self.out_scale is not None:
            ops.append(partial(np.multiply, spikes, self.event_scale, out=self.value))
        ops.append(partial(np.add, self.counts, spikes, out=self.counts))
        return ops
