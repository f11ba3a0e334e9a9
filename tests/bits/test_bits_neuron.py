"""The bit-serial IF neuron (algorithms.md §3.2): exact against QCFS with L = 2^T - 1 after the Delta/2 shift,
spike count = popcount of the level, and the simulator kernel equal to the IR op bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.backends.simulator.kernels import BitsNeuronKernel
from snncc.ir import QCFS, BitsNeuron, TensorType
from snncc.ir.ops_bits import bit_serial, bits_delta, bits_level, bits_levels

SHAPE = (3, 4, 4)


def _theta(per_channel: bool) -> np.ndarray:
    return (np.array([0.7, 1.0, 2.5], np.float32).reshape(3, 1, 1) if per_channel else np.array(1.3, np.float32))


def _nodes(theta, steps):
    consts = {"theta": theta}
    bits = BitsNeuron(name="b", inputs=("z",), type=TensorType(SHAPE), theta="theta", timesteps=steps)
    qcfs = QCFS(name="q", inputs=("z",), type=TensorType(SHAPE), theta="theta", levels=bits_levels(steps))
    return bits, qcfs, consts


@pytest.mark.parametrize("steps", [2, 3, 4])
@pytest.mark.parametrize("per_channel", [False, True])
def test_shifted_bit_serial_equals_qcfs_exactly(steps, per_channel):
    theta = _theta(per_channel)
    bits, qcfs, consts = _nodes(theta, steps)
    # random z, kept 1e-4 of a level away from the rounding boundaries, where float32 rounding of z + Delta/2 vs
    # z L / theta + 1/2 may differ by one ulp (everything else is exact)
    rng = np.random.default_rng(steps)
    level = rng.integers(-3, bits_levels(steps) + 4, (4000,) + SHAPE)
    frac = rng.uniform(1e-4, 1 - 1e-4, level.shape)
    z = ((level + frac - 0.5) * (theta / bits_levels(steps))).astype(np.float32)
    shifted = z + bits_delta(theta, steps) / np.float32(2)
    frames, _ = bits.frames(shifted, consts)
    levels = bits_level(frames)
    expected_levels = np.clip(np.floor(z * np.float32(bits_levels(steps)) / theta + np.float32(0.5)), 0,
                              bits_levels(steps))
    np.testing.assert_array_equal(levels, expected_levels.astype(np.int64))
    # the decoded value is QCFS up to float32 rounding of Delta * level vs theta * level / L
    np.testing.assert_allclose(bits.evaluate([shifted], consts), qcfs.evaluate([z], consts), rtol=1e-6, atol=1e-6)
    # the clip at 0 and theta is reached: the test covers the saturated levels
    assert levels.min() == 0 and levels.max() == bits_levels(steps)


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 6])
def test_spike_count_is_popcount_of_level(steps):
    theta = _theta(True)
    z = np.random.default_rng(7).uniform(-0.5, 3.0, (500,) + SHAPE).astype(np.float32)
    frames, weights = bit_serial(z, theta, steps)
    levels = bits_level(frames)
    popcount = np.vectorize(lambda q: bin(int(q)).count("1"))(levels)
    np.testing.assert_array_equal(frames.sum(axis=0), popcount)
    # the frames are MSB first: the weight of step t is Delta 2^(T-t), halving every step
    np.testing.assert_array_equal(weights[:-1], weights[1:] * 2)
    np.testing.assert_array_equal(weights[-1], bits_delta(theta, steps))


def test_unshifted_neuron_floors():
    """Without the bias shift the neuron truncates: level = clip(floor(V / Delta), 0, L)."""
    theta, steps = np.array(1.0, np.float32), 3
    v = np.array([-0.1, 0.0, 0.1428, 0.1429, 0.5, 0.99, 1.01, 7.0], np.float32)
    levels = bits_level(bit_serial(v, theta, steps)[0])
    np.testing.assert_array_equal(levels, [0, 0, 0, 1, 3, 6, 7, 7])


@pytest.mark.parametrize("steps", [2, 4, 8])
def test_kernel_equals_ir_op_bit_for_bit(steps):
    theta = _theta(True)
    bits, _, consts = _nodes(theta, steps)
    node = {"name": "b", "op": "bits_neuron", "inputs": ["z"], "shape": list(SHAPE),
            "attrs": {"timesteps": steps}, "consts": {"theta": "theta"}}
    kernel = BitsNeuronKernel(node, consts, [SHAPE])
    v = np.random.default_rng(3).normal(0.8, 1.2, (64,) + SHAPE).astype(np.float32)
    frames_k, weights_k = kernel.window_frames(v)
    frames_ir, weights_ir = bits.frames(v, consts)
    assert kernel.window_steps() == steps
    np.testing.assert_array_equal(frames_k, frames_ir)
    np.testing.assert_array_equal(weights_k, weights_ir)


def test_op_rejects_bad_timesteps():
    bits, _, consts = _nodes(_theta(False), 2)
    with pytest.raises(ValueError, match="timesteps"):
        bits.replace(timesteps=0).infer_type([TensorType(SHAPE)], consts)
    with pytest.raises(ValueError, match="positive"):
        bits.infer_type([TensorType(SHAPE)], {"theta": np.array(-1.0, np.float32)})
