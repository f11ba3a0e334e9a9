"""Decoded outputs converge to the ANN-mode reference, and snapshots equal separate runs."""

from __future__ import annotations

import numpy as np
import pytest

from snncc.backends.simulator import simulate
from snncc.ir import run
from tests.simulator.sim_graphs import conv_net, mlp


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(11)


def test_conv_net_converges_to_rate_limit(rng):
    graph = conv_net(rng)
    x = rng.uniform(0, 1, (16, 2, 12, 12)).astype(np.float32)
    reference = run(graph, x)["fc"]
    result = simulate(graph, x, [32, 512])
    error = {t: np.abs(result.outputs[t] - reference).max() for t in (32, 512)}
    assert error[512] < 0.01 * np.abs(reference).max() + 1e-3
    assert error[512] < error[32]
    np.testing.assert_array_equal(result.predictions[512], result.outputs[512].argmax(-1))


def test_mlp_without_out_scale_converges(rng):
    graph = mlp(rng, sizes=(12, 24, 16, 5), theta=1.0, scale_by_theta=False)
    x = rng.uniform(-1, 2, (32, 12)).astype(np.float32)
    reference = run(graph, x)["fc2"]
    decoded = simulate(graph, x, 512).outputs[512]
    np.testing.assert_allclose(decoded, reference, atol=0.01 * np.abs(reference).max() + 1e-3)


@pytest.mark.parametrize("coding", ["analog", "poisson"])
def test_snapshots_equal_separate_runs(rng, coding):
    graph = conv_net(rng)
    x = rng.uniform(0, 1, (10, 2, 12, 12)).astype(np.float32)
    both = simulate(graph, x, [8, 4], input_coding=coding, seed=5, batch_size=4)
    assert both.timesteps == (4, 8)
    for t in (4, 8):
        alone = simulate(graph, x, t, input_coding=coding, seed=5, batch_size=4)
        np.testing.assert_array_equal(both.outputs[t], alone.outputs[t])
        np.testing.assert_array_equal(both.predictions[t], alone.predictions[t])


def test_batch_size_does_not_change_analog_results(rng):
    graph = conv_net(rng)
    x = rng.uniform(0, 1, (10, 2, 12, 12)).astype(np.float32)
    one = simulate(graph, x, 8, batch_size=10, synaptic_path="dense")
    split = simulate(graph, x, 8, batch_size=3, synaptic_path="dense")
    np.testing.assert_allclose(one.outputs[8], split.outputs[8], atol=1e-6)
    assert one.spikes_per_layer.keys() == split.spikes_per_layer.keys()
