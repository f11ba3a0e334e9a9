"""Time-to-first-spike population of the ttfs coding (windowed); same numerics as `snncc.ir.ops_ttfs`."""

import numpy as np

from .base import register_neuron_kernel
from .windowed_neuron import WindowedNeuronKernel

@register_neuron_kernel("ttfs_neuron")
class TTFSNeuronKernel(WindowedNeuronKernel):
    """TTFS IF neuron with a linear PSP (Stanojevic et al.; docs/ttfs.md): K = steps, Delta = theta / K,

        u_k = V + Delta (k + 1/2);  s_k = [u_k >= theta] and no spike before k        (k = 0..K-1)

    and the spike of step k weighs Delta (K - k), the value its linear PSP has reached at the window's end, so the
    window decodes to Delta round(clip(V, 0, theta) / Delta). At most one spike per neuron per window (checked on
    the frames). Same float32 operations as `snncc.ir.ops_ttfs.ttfs_frames` (tested bit for bit)."""

    single_spike = True

    def setup(self):
        super().setup()
        self.theta = self.const("theta")
        if self.theta is None or np.any(self.theta <= 0):
            self.fail("needs a positive theta")
        self.steps = int(self.attr("steps", 0))
        if self.steps < 1:
            self.fail(f"steps={self.steps} must be >= 1")
        theta = np.asarray(self.theta, dtype=np.float32)
        delta = (theta / np.float32(self.steps)).astype(np.float32)
        k = np.arange(self.steps, dtype=np.float32).reshape((self.steps,) + (1,) * theta.ndim)
        self.drive = (delta * (k + np.float32(0.5))).astype(np.float32)
        self.weights = (delta * (np.float32(self.steps) - k)).astype(np.float32)
        self.theta = theta

    def window_steps(self):
        return self.steps

    def step(self, t):
        # the window step by step with one spike mask at a time: memory stays O(neurons) however large K is (the
        # base class holds all K frames); frames are built only when recorded
        v = self.current
        silent = np.ones(v.shape, dtype=bool)
        self.value.fill(0)
        self.spikes.fill(0)
        recorded = None if self.trains is None else np.zeros((self.steps,) + v.shape, dtype=np.float32)
        for k in range(self.steps):
            fired = silent & (v + self.drive[k] >= self.theta)
            np.copyto(self.value, np.broadcast_to(self.weights[k], v.shape), where=fired)
            self.spikes += fired
            silent &= ~fired
            if recorded is not None:
                recorded[k] = fired
        if recorded is not None:
            self.trains.append(recorded)
        if self.spikes.size and self.spikes.max() > 1:
            self.fail("a neuron fired more than once in one window (single-spike coding violated)")
        self.counts += self.spikes

    def window_frames(self, v):
        frames = np.zeros((self.steps,) + v.shape, dtype=np.float32)
        silent = np.ones(v.shape, dtype=bool)
        for k in range(self.steps):
            fired = silent & (v + self.drive[k] >= self.theta)
            frames[k] = fired
            silent &= ~fired
        return frames, self.weights
