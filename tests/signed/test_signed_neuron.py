"""The dual-threshold neuron (algorithms.md §5.3): exact QCFS on constant input, never a -1 spike at n = 0,
never a negative output, plain IF at theta_n = -inf, smaller error than plain IF on uneven input, and the
simulator kernel equal to the reference recursion bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.ir import QCFS, SignedNeuron, TensorType
from snncc.ir.ops_signed import dual_threshold
from tests.signed.neuron_harness import kernel_spikes

SHAPE = (3, 5)
THETA = np.array([0.6, 1.0, 2.2], np.float32).reshape(3, 1)


def _constant_currents(steps: int, seed: int, batch: int = 400) -> np.ndarray:
    """Constant currents z whose QCFS level k = floor(z T / theta + 1/2) is drawn from -2..T+2, kept 1e-3 of a level
    away from the rounding boundaries (where float32 accumulation over T steps may round either way)."""
    rng = np.random.default_rng(seed)
    level = rng.integers(-2, steps + 3, (batch,) + SHAPE)
    frac = rng.uniform(1e-3, 1 - 1e-3, level.shape)
    z = ((level + frac - 0.5) * THETA / steps).astype(np.float32)
    return np.broadcast_to(z, (steps,) + z.shape).copy()


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 8])
def test_constant_input_equals_qcfs_with_l_equal_t(steps):
    currents = _constant_currents(steps, steps)
    frames = kernel_spikes("signed_neuron", currents, THETA, timesteps=steps, v0=0.5, theta_n=0.0)
    assert frames.min() == 0                                   # no -1 spike on constant input
    count = frames.sum(axis=0)
    z = currents[0]
    qcfs = QCFS(name="q", inputs=("z",), type=TensorType(SHAPE), theta="theta", levels=steps)
    expected = qcfs.evaluate([z], {"theta": THETA}) / THETA * steps
    np.testing.assert_allclose(count, expected, atol=1e-4)
    np.testing.assert_array_equal(count, np.clip(np.floor(z * steps / THETA + np.float32(0.5)), 0, steps))
    # the op's ANN mode is that same function
    op = SignedNeuron(name="s", inputs=("z",), type=TensorType(SHAPE), theta="theta", timesteps=steps)
    np.testing.assert_allclose(op.evaluate([z], {"theta": THETA}) * steps, count, atol=1e-5)


def _uneven(steps: int, seed: int, batch: int = 2000, sigma: float = 0.5) -> np.ndarray:
    """Jittered currents: a mean in [-0.2 theta, 1.2 theta] plus N(0, sigma theta) per step."""
    rng = np.random.default_rng(seed)
    mean = rng.uniform(-0.2, 1.2, (batch,) + SHAPE) * THETA
    noise = rng.normal(0, sigma, (steps, batch) + SHAPE) * THETA
    return (mean + noise).astype(np.float32)


@pytest.mark.parametrize("theta_n", [0.0, -0.25, 0.5])
def test_no_negative_spike_at_zero_count_and_output_never_negative(theta_n):
    currents = _uneven(8, 1)
    frames = kernel_spikes("signed_neuron", currents, THETA, timesteps=8, v0=0.5, theta_n=theta_n)
    net_before = np.cumsum(frames, axis=0) - frames
    assert (frames == -1).any()                                # the uneven input does exercise -1 spikes
    assert not ((frames == -1) & (net_before <= 0)).any()
    assert (np.cumsum(frames, axis=0) >= 0).all()
    assert set(np.unique(frames)) <= {-1.0, 0.0, 1.0}


def test_minus_infinity_is_plain_if_with_half_theta_start():
    currents = _uneven(16, 2)
    signed = kernel_spikes("signed_neuron", currents, THETA, timesteps=16, v0=0.5, theta_n=float("-inf"))
    plain = kernel_spikes("if_neuron", currents, THETA, v0=0.5)
    np.testing.assert_array_equal(signed, plain)


@pytest.mark.parametrize("theta_n", [0.0, 0.3, -0.5, float("-inf")])
def test_kernel_equals_reference_recursion(theta_n):
    currents = _uneven(8, 3, batch=300)
    frames = kernel_spikes("signed_neuron", currents, THETA, timesteps=8, v0=0.5, theta_n=theta_n)
    np.testing.assert_array_equal(frames, np.stack(dual_threshold(currents, THETA, theta_n, 0.5)))


@pytest.mark.parametrize("steps", [2, 4, 8])
def test_error_on_uneven_input_is_below_plain_if(steps):
    """Mean |count - clip(round(sum I / theta), 0, T)|: dual-threshold vs IF with v0 = theta/2, same input."""
    currents = _uneven(steps, 10 + steps)
    target = np.clip(np.floor(currents.sum(axis=0) / THETA + 0.5), 0, steps)
    signed = kernel_spikes("signed_neuron", currents, THETA, timesteps=steps, v0=0.5, theta_n=0.0).sum(axis=0)
    plain = kernel_spikes("if_neuron", currents, THETA, v0=0.5).sum(axis=0)
    err_signed = np.abs(signed - target).mean()
    err_plain = np.abs(plain - target).mean()
    assert err_signed < err_plain
    assert err_signed <= 0.75 * err_plain
