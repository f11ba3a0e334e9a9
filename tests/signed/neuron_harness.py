"""Drive one neuron kernel of the simulator with an arbitrary current sequence (the network schedules only feed
currents that layers compute; these tests need uneven currents chosen by hand)."""

from __future__ import annotations

import numpy as np

from snncc.backends.simulator.kernels import KERNELS, RunOptions, Signal


def kernel_spikes(op: str, currents: np.ndarray, theta: np.ndarray, **attrs) -> np.ndarray:
    """Spike frames (T, batch, *shape) of population `op` fed currents[t] at step t + 1."""
    shape = currents.shape[2:]
    node = {"name": "pop", "op": op, "inputs": ["i"], "shape": list(shape), "attrs": attrs,
            "consts": {"theta": "theta"}}
    kernel = KERNELS[op](node, {"theta": np.asarray(theta, np.float32)}, [shape])
    buffer = np.zeros(currents.shape[1:], np.float32)
    kernel.bind([Signal(buffer)], currents.shape[1], RunOptions())
    frames = []
    for t, current in enumerate(currents, start=1):
        buffer[...] = current
        kernel.step(t)
        frames.append(kernel.spikes.copy())
    return np.stack(frames)
