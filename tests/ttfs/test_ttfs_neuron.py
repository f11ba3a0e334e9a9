"""The TTFS neuron (docs/ttfs.md): one spike at most, its earliness codes Delta round(clip(V, 0, theta) / Delta),
K = L reproduces QCFS, and the simulator kernel equals the IR op bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.backends.simulator.kernels import TTFSNeuronKernel
from snncc.ir import QCFS, TensorType, TTFSNeuron
from snncc.ir.ops_ttfs import first_spike_step, ttfs_decode, ttfs_frames

SHAPE = (3, 4, 4)
THETA = np.array([0.7, 1.0, 2.5], np.float32).reshape(3, 1, 1)


def _node(steps, theta=THETA):
    return TTFSNeuron(name="t", inputs=("z",), type=TensorType(SHAPE), theta="theta", steps=steps), {"theta": theta}


@pytest.mark.parametrize("steps", [1, 4, 16])
def test_value_is_relu_rounded_to_the_linear_grid(steps):
    v = np.random.default_rng(0).normal(0.5, 1.5, (32,) + SHAPE).astype(np.float32)
    node, consts = _node(steps)
    frames, weights = node.frames(v, consts)
    delta = THETA / steps
    expected = delta * np.floor(np.clip(v, 0, THETA) / delta + 0.5)
    np.testing.assert_allclose(ttfs_decode(frames, weights), expected, rtol=0, atol=1e-6)
    assert frames.sum(axis=0).max() == 1
    # earliness: the spike's step is K - level, and a neuron below half a step stays silent
    level = np.round(expected / delta).astype(int)
    np.testing.assert_array_equal(first_spike_step(frames), np.where(level > 0, steps - level, -1))


def test_qcfs_with_k_equal_l_is_exact():
    levels = 5
    v = np.random.default_rng(1).normal(0.5, 1.2, (64,) + SHAPE).astype(np.float32)
    node, consts = _node(levels)
    qcfs = QCFS(name="q", inputs=("z",), type=TensorType(SHAPE), theta="theta", levels=levels)
    np.testing.assert_allclose(node.evaluate([v], consts), qcfs.evaluate([v], consts), rtol=0, atol=1e-6)


@pytest.mark.parametrize("steps", [3, 16])
def test_kernel_equals_ir_op_bit_for_bit(steps):
    node, consts = _node(steps)
    description = {"name": "t", "op": "ttfs_neuron", "inputs": ["z"], "shape": list(SHAPE),
                   "attrs": {"steps": steps}, "consts": {"theta": "theta"}}
    kernel = TTFSNeuronKernel(description, consts, [SHAPE])
    v = np.random.default_rng(3).normal(0.8, 1.2, (64,) + SHAPE).astype(np.float32)
    frames_k, weights_k = kernel.window_frames(v)
    frames_ir, weights_ir = node.frames(v, consts)
    assert kernel.window_steps() == steps
    np.testing.assert_array_equal(frames_k, frames_ir)
    np.testing.assert_array_equal(weights_k, weights_ir)


def test_op_rejects_bad_steps_and_theta():
    node, consts = _node(4)
    with pytest.raises(ValueError, match="steps"):
        node.replace(steps=0).infer_type([TensorType(SHAPE)], consts)
    with pytest.raises(ValueError, match="positive"):
        node.infer_type([TensorType(SHAPE)], {"theta": np.array(-1.0, np.float32)})


def test_frames_of_a_single_value():
    frames, weights = ttfs_frames(np.array([1.0, 0.49, 0.5, 3.0, -2.0], np.float32), np.float32(4.0), 4)
    # Delta = 1: 1.0 -> step 3; 0.49 silent; 0.5 rounds up to 1 -> step 3; 3.0 -> step 1; -2.0 silent
    np.testing.assert_array_equal(first_spike_step(frames), [3, -1, 3, 1, -1])
    np.testing.assert_array_equal(weights.ravel(), [4, 3, 2, 1])


@pytest.mark.parametrize("steps", [5, 64])
def test_streamed_window_equals_the_frames_bit_for_bit(steps):
    """The kernel's step and the op's evaluate walk the window one mask at a time (no K frames held): the value,
    the spike counts and the recorded frames equal the frame-by-frame definition."""
    from snncc.backends.simulator.kernels import RunOptions, Signal
    from snncc.ir.ops_ttfs import ttfs_value

    node, consts = _node(steps)
    v = np.random.default_rng(7).normal(0.8, 1.2, (32,) + SHAPE).astype(np.float32)
    frames, weights = ttfs_frames(v, THETA, steps)
    np.testing.assert_array_equal(ttfs_value(v, THETA, steps), ttfs_decode(frames, weights))
    np.testing.assert_array_equal(node.evaluate([v], consts), ttfs_decode(frames, weights))
    description = {"name": "t", "op": "ttfs_neuron", "inputs": ["z"], "shape": list(SHAPE),
                   "attrs": {"steps": steps}, "consts": {"theta": "theta"}}
    kernel = TTFSNeuronKernel(description, consts, [SHAPE])
    kernel.trains = []
    kernel.bind([Signal(v.copy())], len(v), RunOptions())
    kernel.step(1)
    np.testing.assert_array_equal(kernel.value, ttfs_decode(frames, weights))
    np.testing.assert_array_equal(kernel.spikes, frames.sum(axis=0))
    np.testing.assert_array_equal(kernel.trains[0], frames)
