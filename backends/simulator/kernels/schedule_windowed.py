"""Layer-windowed schedule (phase, AMOS/FS, bits codings; algorithms.md §0): one window per layer in
dataflow order."""

from .base import NeuronKernel, register_schedule
from .shape_ops import DelayKernel
from .windowed_neuron import WindowedNeuronKernel


def window_latency(program):
    """(latency, pipeline interval) in steps of a windowed program: a value is ready max(inputs) + K after its
    inputs for a windowed population, + steps for a delay, at max(inputs) for any other op; the latency is the
    latest output (K x spiking layers on the longest path), the interval the longest window (one sample per K)."""
    ready = {}
    interval = 0
    for kernel in program.kernels:
        start = max((ready[s] for s in kernel.inputs), default=0)
        own = kernel.window_steps() if isinstance(kernel, WindowedNeuronKernel) else 0
        if isinstance(kernel, DelayKernel):
            own = kernel.steps
        else:
            interval = max(interval, own)
        ready[kernel.name] = start + own
    return max((ready[o] for o in program.outputs), default=0), interval


@register_schedule("windowed")
def run_windowed(batch_run, checkpoints):
    """Layer-windowed schedule: every kernel steps once, in topological order; a windowed population turns the
    pre-activation it integrated over its producers' windows into its K spike frames and their decoded value.
    The output layer's membrane holds the complete logits after the last window (no division by T), so every
    checkpoint T gets the same decoded outputs; latency and throughput come from `window_latency`."""
    kernels = batch_run.program.kernels
    for kernel in kernels:
        if isinstance(kernel, NeuronKernel) and not isinstance(kernel, WindowedNeuronKernel):
            kernel.fail("is a concurrent-schedule neuron in a windowed program")
        if getattr(kernel, "poisson", False):
            kernel.fail("poisson input coding is not available on the windowed schedule; use analog input")
        kernel.step(1)
        batch_run.advance(1 / len(kernels))
    decoded = {name: sig.value.copy() for name, sig in batch_run.outputs.items()}
    for t in checkpoints:
        batch_run.checkpoint(t)
    return {t: decoded for t in checkpoints}
