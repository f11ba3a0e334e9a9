"""FS / AMOS circuit population (`--coding amos`, algorithms.md §2; windowed); same numerics as
`snncc.ir.ops_amos`."""

import numpy as np

from .base import register_neuron_kernel
from .windowed_neuron import WindowedNeuronKernel


@register_neuron_kernel("fs_neuron")
class FSNeuronKernel(WindowedNeuronKernel):
    """FS / AMOS circuit population (Stoeckl & Maass): every unit runs K sub-neurons on its window's pre-activation

        v(1) = V;  z(t) = [v(t) > T(t)] ([>=] when ge);  v(t+1) = v(t) - h(t) z(t);  value = sum_t d(t) z(t) + e

    Sub-neuron t is evaluated once, at step t of the window, so it spikes at most once (checked every window); a
    unit emits at most K spikes. The membrane and the decoded value are float64 like `snncc.gates.fs_forward`
    (the IR op's ANN semantics), then float32; a test checks the two agree bit for bit. With the constant
    `channel_circuits` (float64 (C, 3K + 1), row c = [T(1..K), h(1..K), d(1..K), e] of channel c) T, h, d and e are
    per-channel arrays that broadcast against the membrane."""

    def setup(self):
        super().setup()
        self.steps = int(self.attr("steps", 0))
        self.thresholds = [float(v) for v in self.attr("thresholds", ())]
        self.resets = [float(v) for v in self.attr("resets", ())]
        self.weights = np.asarray([float(v) for v in self.attr("weights", ())], dtype=np.float64)
        self.ge = bool(self.attr("ge", False))
        self.bias_offset = float(self.attr("bias_offset", 0.0))
        if self.steps < 1 or not (len(self.thresholds) == len(self.resets) == len(self.weights) == self.steps):
            self.fail(f"needs steps >= 1 and {self.steps} thresholds, resets and weights")
        if not (np.all(np.isfinite(self.thresholds)) and np.all(np.isfinite(self.resets))
                and np.all(np.isfinite(self.weights)) and np.isfinite(self.bias_offset)):
            self.fail("has a non-finite circuit parameter")
        ref = self.const_names.get("channel_circuits")
        if ref is not None:
            self._channel_circuits(ref)

    def _channel_circuits(self, ref):
        if ref not in self._constants:
            self.fail(f"references missing constant @{ref}")
        table = np.asarray(self._constants[ref])
        # the channel axis: first of (C,), (C, H, W); last of (nodes, features)
        axis = len(self.shape) - 1 if len(self.shape) == 2 else 0
        view = tuple(d if i == axis else 1 for i, d in enumerate(self.shape))
        k = self.steps
        if table.dtype != np.float64 or table.shape != (int(np.prod(view)), 3 * k + 1):
            self.fail(f"channel_circuits must be float64 ({int(np.prod(view))}, {3 * k + 1}), got {table.dtype} "
                      f"{table.shape}")
        if not np.all(np.isfinite(table)):
            self.fail("has a non-finite circuit parameter")
        steps = [np.ascontiguousarray(table[:, i * k:(i + 1) * k].T).reshape((k,) + view) for i in range(3)]
        self.thresholds, self.resets, self.weights = list(steps[0]), list(steps[1]), steps[2]
        self.bias_offset = table[:, 3 * k].reshape(view)

    def window_steps(self):
        return self.steps

    def window_frames(self, v):
        membrane = np.array(v, dtype=np.float64)
        frames = np.zeros((self.steps,) + membrane.shape, dtype=np.float32)
        for t in range(self.steps):
            z = (membrane >= self.thresholds[t]) if self.ge else (membrane > self.thresholds[t])
            frames[t] = z
            membrane -= self.resets[t] * z
        return frames, self.weights

    def step(self, t):
        super().step(t)
        # each frame holds one evaluation of each sub-neuron (0 or 1), so a unit spikes at most K times a window
        if self.spikes.size and self.spikes.max() > self.steps:
            self.fail("a sub-neuron fired more than once in one window")

    def decode(self, frames, weights, out):
        y = np.zeros(frames.shape[1:], dtype=np.float64)
        for t in range(self.steps):
            y += weights[t] * (frames[t] != 0)
        y += self.bias_offset
        np.copyto(out, y, casting="same_kind")
