"""Graph inputs: analog current or Poisson spikes."""

import numpy as np

from .base import Kernel, Signal, register_kernel, zeros_buffer


@register_kernel("input")
class InputKernel(Kernel):
    """A graph input. `analog`: the sample x as a constant current every step. `poisson`: every step, independent
    spikes s(t) = [u < clip(x, 0, 1)] with u ~ U[0, 1) from a generator seeded by (seed, first sample of the batch,
    input index), so the spikes are reproducible for a given seed and batch size."""

    input_index = 0     # position among the program's inputs (set by Program), one random stream each

    def bind(self, inputs, batch, run):
        x = run.batch_inputs.get(self.name)
        if x is None:
            self.fail("no data for this graph input")
        if tuple(x.shape[1:]) != self.shape:
            self.fail(f"expects per-sample shape {list(self.shape)}, got {list(x.shape[1:])}")
        self.poisson = run.input_coding == "poisson"
        if not self.poisson:
            self.counts = None
            self.output = Signal(np.ascontiguousarray(x, dtype=np.float32), static=True)
            return self.output
        self.rng = run.batch_generator(self.input_index)
        self.probability = np.clip(np.asarray(x, dtype=np.float32), 0, 1)
        self._uniform = zeros_buffer(batch, self.shape)
        self._fired = np.zeros((batch,) + self.shape, dtype=bool)
        self.spikes = zeros_buffer(batch, self.shape)
        self.counts = zeros_buffer(batch, self.shape)
        self.output = Signal(self.spikes, events=self.spikes, binary=True, spike_derived=True)
        return self.output

    def step(self, t):
        if self.poisson:
            self.rng.random(out=self._uniform, dtype=np.float32)
            np.less(self._uniform, self.probability, out=self._fired)
            np.copyto(self.spikes, self._fired)
            self.counts += self.spikes
