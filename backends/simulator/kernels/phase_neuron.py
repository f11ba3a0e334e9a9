"""Single-spike (and multi-spike) phase coding population (Hwang & Kung 2024); same numerics as
`snncc.ir.ops_phase` (tested bit for bit)."""

import numpy as np

from .base import register_neuron_kernel
from .windowed_neuron import WindowedNeuronKernel

@register_neuron_kernel("phase_neuron")
class PhaseNeuronKernel(WindowedNeuronKernel):
    """Single-spike phase coding (Hwang & Kung 2024): with levels L_k = theta B^-k (k = 0..K-1)

        single spike:  s_k = [V >= theta c_k] and no spike before k; c_k = B^-k (no shift) or
                       (B^-k + B^-(k+1)) / 2 with B^-K read as 0 (threshold shift: the nearest level)
        multi_spike:   r = V; s_k = [r >= L_k]; r -= L_k s_k   (B = 2: the K-bit floor expansion)

    and the spike at phase k weighs L_k. Same numerics as `snncc.ir.ops_phase.phase_frames` (tested bit for bit)."""

    def setup(self):
        super().setup()
        self.theta = self.const("theta")
        if self.theta is None or np.any(self.theta <= 0):
            self.fail("needs a positive theta")
        self.base = float(self.attr("base", 2.0))
        self.phases = int(self.attr("phases", 8))
        self.multi_spike = bool(self.attr("multi_spike", False))
        self.single_spike = not self.multi_spike
        shift = bool(self.attr("shift", True)) and not self.multi_spike
        if self.phases < 1 or not 1.0 < self.base <= 2.0:
            self.fail(f"phases={self.phases} must be >= 1 and base={self.base} in (1, 2]")
        k = np.arange(self.phases, dtype=np.float64)
        levels = self.base ** -k
        thresholds = (levels + np.append(levels[1:], 0.0)) / 2 if shift else levels
        level_f, thr_f = levels.astype(np.float32), thresholds.astype(np.float32)
        self.weights = np.stack([self.theta * f for f in level_f])
        self.thresholds = [self.theta * f for f in thr_f]

    def window_steps(self):
        return self.phases

    def decode(self, frames, weights, out):
        if not self.multi_spike:
            return super().decode(frames, weights, out)
        # the integer level n = sum_k 2^(K-1-k) s_k (exact) times Delta: one rounding, like the IR op
        out.fill(0)
        for k in range(self.phases):
            out += frames[k] * np.float32(2 ** (self.phases - 1 - k))
        out *= weights[-1]

    def window_frames(self, v):
        frames = np.zeros((self.phases,) + v.shape, dtype=np.float32)
        if self.multi_spike:
            residual = v.copy()
            for k in range(self.phases):
                fired = residual >= self.weights[k]
                frames[k] = fired
                residual = np.where(fired, residual - self.weights[k], residual)
        else:
            silent = np.ones(v.shape, dtype=bool)
            for k in range(self.phases):
                fired = silent & (v >= self.thresholds[k])
                frames[k] = fired
                silent &= ~fired
        return frames, self.weights
