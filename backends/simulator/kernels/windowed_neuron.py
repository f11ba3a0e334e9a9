"""Base of populations on the layer-windowed schedule (phase, AMOS/FS, bits codings; algorithms.md §0)."""

import numpy as np

from .base import NeuronKernel


class WindowedNeuronKernel(NeuronKernel):
    """Base of populations on the layer-windowed schedule. Each window the population reads the complete
    pre-activation V that it integrated while its producers emitted (the previous window), runs its own K-step
    dynamics and emits K spike frames:

        frames, weights = self.window_frames(V)   # frames (K, batch, *shape) in {0, 1}; weights (K, *broadcast)
        value = self.decode(frames, weights)      # sum_k weights[k] * frames[k], in phase order

    Frame k reaches the consumers with weight w_k (phase: theta B^-k; AMOS: d(k); bits: Delta 2^(T-k)). Synapses
    are linear, so a consumer's integrated input is its linear map of `value` (bias once per window): simulating a
    window is one pass over the graph in topological order, exact and fast. Spikes are counted from the frames
    (SynOps = spikes x fan-out); `spikes` holds each neuron's spike count in the window, the events consumers see.

    To add a windowed neuron type, in a new module of this package (imported by its `__init__`):

        @register_neuron_kernel("my_neuron")
        class MyKernel(WindowedNeuronKernel):
            single_spike = True                    # check at most one spike per neuron per window
            def setup(self): ...                   # read constants; call super().setup()
            def window_steps(self): return K       # steps of the emission window
            def window_frames(self, v): return frames, weights
    """

    single_spike = False
    time_varying_scale = True
    trains = None       # set to a list on a built program to record each batch's spike frames (K, batch, *shape)

    @property
    def weighted_spikes(self):
        """Whether a consumer needs a multiply per event: the frame weights are not all the last one times powers
        of two (bits: 2^(T-k), and multi-spike phase with B = 2, are shifts; phase with B < 2 and AMOS's d(t) are
        not)."""
        weights = np.asarray(getattr(self, "weights", ()), np.float64)
        if weights.size == 0:
            return False
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = weights / weights[-1]
        ratios = ratios[np.isfinite(ratios) & (ratios != 0)]
        return not np.all(np.frexp(np.abs(ratios))[0] == 0.5)

    def window_steps(self):
        """Steps of this population's emission window (K)."""
        raise NotImplementedError

    def window_frames(self, v):
        """(frames (K, batch, *shape) float32 0/1, per-frame weights (K, ...)) for pre-activations v."""
        raise NotImplementedError

    def reset(self, batch):
        pass

    def fire(self, current, t):
        self.fail("runs on the layer-windowed schedule only (the graph header must say schedule \"windowed\")")

    def step(self, t):
        frames, weights = self.window_frames(self.current)
        if frames.shape[0] != self.window_steps():
            self.fail(f"emitted {frames.shape[0]} frames for a window of {self.window_steps()} steps")
        if self.trains is not None:
            self.trains.append(frames.copy())
        np.sum(frames, axis=0, out=self.spikes)
        if self.single_spike and self.spikes.size and self.spikes.max() > 1:
            self.fail("a neuron fired more than once in one window (single-spike coding violated)")
        self.decode(frames, weights, self.value)
        self.counts += self.spikes

    def decode(self, frames, weights, out):
        """Write the decoded value sum_k weights[k] frames[k] (in phase order) into `out`."""
        out.fill(0)
        for k in range(frames.shape[0]):
            out += frames[k] * weights[k]
