"""Concurrent schedule: every kernel steps once per time step."""

import numpy as np

from .base import register_schedule


def step_plan(kernels, clock):
    """One flat list of argument-free calls that steps `kernels` in order: each kernel's `step_ops()`, or a call of
    its `step` at `clock[0]` when it has none (or when `step` was replaced on the instance, e.g. to time it)."""
    plan = []
    for kernel in kernels:
        ops = None if "step" in vars(kernel) else kernel.step_ops()
        if ops is None:
            plan.append(lambda kernel=kernel: kernel.step(clock[0]))
        else:
            plan.extend(ops)
    return plan


@register_schedule("concurrent")
def run_concurrent(batch_run, checkpoints):
    """Concurrent schedule: for t = 1..max(checkpoints) step every kernel in topological order (static kernels only
    at t = 1), accumulate every output, and at each checkpoint T record the decoded outputs sum_{t<=T} out(t) / T.
    Returns {T: {output name: (batch, *shape) array}}."""
    kernels = batch_run.program.stepped
    moving = [k for k in kernels if not k.output.static]
    clock = [1]
    plan = step_plan(moving, clock)
    sums = {name: np.zeros_like(sig.value) for name, sig in batch_run.outputs.items()}
    wanted = set(checkpoints)
    decoded = {}
    for t in range(1, max(checkpoints) + 1):
        if t == 1:
            for kernel in kernels:
                kernel.step(t)
        else:
            clock[0] = t
            for op in plan:
                op()
        for name, sig in batch_run.outputs.items():
            sums[name] += sig.value
        if t in wanted:
            decoded[t] = {name: s / np.float32(t) for name, s in sums.items()}
            batch_run.checkpoint(t)
        batch_run.advance(1 / max(checkpoints))
    return decoded
