"""The phase neuron's numerics (algorithms.md §4.3): nearest-level rounding with the threshold shift, the error
bounds, the single-spike constraint, the multi-spike K-bit floor, and the simulator kernel == the IR op."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snncc.backends.simulator import kernels
from snncc.ir import ConstRef, PhaseNeuron, TensorType
from snncc.ir.ops_phase import phase_decode, phase_frames


def nearest_level(v: np.ndarray, theta: float, base: float, phases: int) -> np.ndarray:
    """Reference: the representable value {0} U {theta B^-k} nearest to clip(v, 0, theta) (float64)."""
    levels = np.append(theta * float(base) ** -np.arange(phases), 0.0)
    target = np.clip(v.astype(np.float64), 0, theta)
    return levels[np.argmin(np.abs(target[..., None] - levels), axis=-1)]


def quantize(v, theta=1.0, base=2.0, phases=8, shift=True, multi_spike=False):
    frames, weights = phase_frames(v, np.float32(theta), base, phases, shift, multi_spike)
    return phase_decode(frames, weights, multi_spike)


def uniform(n=20000, lo=-0.5, hi=1.5, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, n).astype(np.float32)


@pytest.mark.parametrize("base,phases", [(2.0, 8), (1.5, 6), (1.2, 12), (1.9, 3)])
def test_shift_rounds_to_the_nearest_level(base, phases):
    v = uniform()
    q = quantize(v, 1.0, base, phases)
    expected = nearest_level(v, 1.0, base, phases)
    # ties sit exactly on a threshold; away from them the choice is unique
    np.testing.assert_allclose(q, expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize("base", [2.0, 1.5, 1.2])
def test_relative_error_bounds_on_the_covered_range(base):
    phases, theta = 8, 1.7
    v = np.geomspace(theta * base ** -(phases - 1) * (1 + 1e-6), theta, 50001).astype(np.float32)
    with_shift = np.abs(quantize(v, theta, base, phases, shift=True) - v) / v
    without = np.abs(quantize(v, theta, base, phases, shift=False) - v) / v
    assert with_shift.max() <= (base - 1) / (base + 1) + 1e-5
    assert with_shift.max() >= 0.95 * (base - 1) / (base + 1)          # the bound is reached, not loose
    assert without.max() <= 1 - 1 / base + 1e-5
    assert without.max() >= 0.95 * (1 - 1 / base)
    assert with_shift.mean() < without.mean()


def test_clip_and_underflow():
    q = quantize(np.array([-3.0, 0.0, 0.001, 5.0, 1.0], np.float32), 1.0, 2.0, 4)
    assert q.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


@given(st.lists(st.floats(-4, 4, width=32), min_size=1, max_size=64), st.floats(1.05, 2.0),
       st.integers(1, 12), st.booleans())
@settings(max_examples=60, deadline=None)
def test_at_most_one_spike_per_window(values, base, phases, shift):
    frames, weights = phase_frames(np.array(values, np.float32), np.float32(0.8), base, phases, shift, False)
    assert frames.shape == (phases, len(values))
    assert frames.sum(axis=0).max() <= 1
    fired = frames.argmax(axis=0)
    decoded = phase_decode(frames, weights)
    spiking = frames.sum(axis=0) == 1
    np.testing.assert_array_equal(decoded[spiking], weights[fired[spiking]])


@pytest.mark.parametrize("theta", [1.0, 0.75, 3.3])
def test_multi_spike_is_the_k_bit_floor_quantizer(theta):
    phases = 6
    v = uniform(50000, -1, 2.5 * theta, seed=1)
    frames, weights = phase_frames(v, np.float32(theta), 2.0, phases, False, True)
    level = sum(frames[k].astype(np.int64) << (phases - 1 - k) for k in range(phases))
    delta = np.float64(np.float32(theta)) * 2.0 ** (1 - phases)
    expected = np.clip(np.floor(v.astype(np.float64) / delta), 0, 2 ** phases - 1)
    np.testing.assert_array_equal(level, expected)
    np.testing.assert_array_equal(phase_decode(frames, weights, True), (delta * expected).astype(np.float32))


def test_kernel_matches_the_ir_op_bit_for_bit():
    rng = np.random.default_rng(3)
    theta = rng.uniform(0.5, 2.0, (4, 1, 1)).astype(np.float32)
    v = rng.normal(0.5, 1.0, (5, 4, 3, 3)).astype(np.float32)
    for base, phases, shift, multi in [(1.37, 7, True, False), (2.0, 5, False, False), (2.0, 6, False, True)]:
        node = PhaseNeuron(name="p", inputs=("z",), type=TensorType((4, 3, 3)), theta=ConstRef("t"), base=base,
                           phases=phases, shift=shift, multi_spike=multi)
        expected = node.evaluate([v], {"t": theta})
        description = {"name": "p", "op": "phase_neuron", "inputs": ["z"], "shape": [4, 3, 3],
                       "attrs": {"base": base, "phases": phases, "shift": shift, "multi_spike": multi},
                       "consts": {"theta": "t"}}
        kernel = kernels.KERNELS["phase_neuron"](description, {"t": theta}, [(4, 3, 3)])
        frames, weights = kernel.window_frames(v)
        ir_frames, ir_weights = node.frames(v, {"t": theta})
        np.testing.assert_array_equal(frames, ir_frames)
        np.testing.assert_array_equal(weights, ir_weights)
        np.testing.assert_array_equal(phase_decode(frames, weights, multi), expected)
        out = np.empty_like(v)
        kernel.decode(frames, weights, out)
        np.testing.assert_array_equal(out, expected)
