"""Concurrent schedule: every kernel steps once per time step."""

import numpy as np

from .base import register_schedule


@register_schedule("concurrent")
def run_concurrent(batch_run, checkpoints):
    """Concurrent schedule: for t = 1..max(checkpoints) step every kernel in topological order (static kernels only
    at t = 1), accumulate every output, and at each checkpoint T record the decoded outputs sum_{t<=T} out(t) / T.
    Returns {T: {output name: (batch, *shape) array}}."""
    kernels = batch_run.program.stepped
    moving = [k for k in kernels if not k.output.static]
    sums = {name: np.zeros_like(sig.value) for name, sig in batch_run.outputs.items()}
    wanted = set(checkpoints)
    decoded = {}
    for t in range(1, max(checkpoints) + 1):
        for kernel in (kernels if t == 1 else moving):
            kernel.step(t)
        for name, sig in batch_run.outputs.items():
            sums[name] += sig.value
        if t in wanted:
            decoded[t] = {name: s / np.float32(t) for name, s in sums.items()}
            batch_run.checkpoint(t)
        batch_run.advance(1 / max(checkpoints))
    return decoded
