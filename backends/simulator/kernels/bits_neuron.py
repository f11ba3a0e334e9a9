"""Bit-serial IF population of the bits coding (windowed); same numerics as `snncc.ir.ops_bits`."""

import numpy as np

from .base import register_neuron_kernel
from .windowed_neuron import WindowedNeuronKernel

@register_neuron_kernel("bits_neuron")
class BitsNeuronKernel(WindowedNeuronKernel):
    """Bit-serial (MSB-first) IF population (Datta et al.; algorithms.md §3): T = timesteps, Delta = theta/(2^T-1),

        v = V;  for t = 1..T:  w_t = Delta 2^(T-t);  s(t) = [v >= w_t];  v -= w_t s(t)

    and the spike of step t weighs w_t, so the window decodes to Delta clip(floor(V / Delta), 0, 2^T - 1); a neuron
    spikes popcount(level) times. Same float32 operations as `snncc.ir.ops_bits.bit_serial` (tested bit for bit)."""

    def setup(self):
        super().setup()
        self.theta = self.const("theta")
        if self.theta is None or np.any(self.theta <= 0):
            self.fail("needs a positive theta")
        self.steps = int(self.attr("timesteps", 0))
        if not 1 <= self.steps <= 24:
            self.fail(f"timesteps={self.steps} must be in 1..24")
        delta = (self.theta / np.float32((1 << self.steps) - 1)).astype(np.float32)
        self.weights = np.stack([(delta * np.float32(1 << (self.steps - t))).astype(np.float32)
                                 for t in range(1, self.steps + 1)])

    def window_steps(self):
        return self.steps

    def window_frames(self, v):
        residual = np.array(v, dtype=np.float32, copy=True)
        frames = np.zeros((self.steps,) + residual.shape, dtype=np.float32)
        for k in range(self.steps):
            fired = residual >= self.weights[k]
            frames[k] = fired
            np.subtract(residual, self.weights[k], out=residual, where=fired)
        return frames, self.weights
