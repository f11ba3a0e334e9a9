"""The IF neuron's spike counts on constant input (algorithms.md §1.2, §1.5)."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.backends.simulator import simulate
from tests.simulator.sim_graphs import NetBuilder


def neuron_graph(shape, theta, v0, out_scale=None):
    b = NetBuilder()
    x = b.input("x", shape)
    return b.graph(b.neuron("n", x, theta, out_scale=out_scale, v0=v0))


def spike_counts(graph, z, t):
    """Per-neuron spike counts: the population is the graph output, so decoded * T = counts (out_scale none)."""
    return simulate(graph, z, t).outputs[t] * t


@pytest.mark.parametrize("t", [4, 8, 32])
def test_half_charged_count_is_rounded_rate_per_channel_theta(t):
    # dyadic currents: every membrane value is exact, so even the rounding boundaries k + 1/2 are hit exactly
    theta = np.array([0.5, 1.0, 2.0], np.float32).reshape(3, 1, 1)
    z = (np.arange(-8, 40) / 16).astype(np.float32)                   # -0.5 .. 2.4375
    x = np.broadcast_to(z.reshape(1, 1, 6, 8), (1, 3, 6, 8)) * theta.reshape(1, 3, 1, 1)
    x = np.ascontiguousarray(x, dtype=np.float32)
    counts = spike_counts(neuron_graph((3, 6, 8), theta, v0=0.5), x, t)
    expected = np.clip(np.floor(x * t / theta + 0.5), 0, t)
    np.testing.assert_array_equal(counts, expected)


def test_random_currents_scalar_theta():
    rng = np.random.default_rng(3)
    theta, t = 0.7, 16
    z = rng.uniform(-0.3, 1.0, (5, 40)).astype(np.float32)
    counts = spike_counts(neuron_graph((40,), theta, v0=0.5), z, t)
    np.testing.assert_array_equal(counts, np.clip(np.floor(z * t / theta + 0.5), 0, t))


def test_uncharged_neuron_truncates():
    z = (np.arange(0, 20) / 16).astype(np.float32).reshape(1, 20)
    counts = spike_counts(neuron_graph((20,), 1.0, v0=0.0), z, 8)
    np.testing.assert_array_equal(counts, np.clip(np.floor(z * 8), 0, 8))


def test_out_scale_weighs_each_spike():
    theta = np.array([0.5, 2.0], np.float32)
    z = np.array([[0.25, 1.0]], np.float32)                            # half rate in both neurons
    result = simulate(neuron_graph((2,), theta, v0=0.5, out_scale=theta), z, 8)
    np.testing.assert_array_equal(result.outputs[8], [[0.25, 1.0]])   # theta * count / T
    assert result.spikes_per_layer == {"n": 8.0}
    assert result.max_spikes_per_neuron == 4
