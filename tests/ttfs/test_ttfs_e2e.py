"""--coding ttfs end to end: on integer-grid models with Clip(0, c) thresholds (data-free) and K = c the TTFS
network equals onnxruntime exactly (one layer, MaxPool by the first spike, a residual block); the spike trains the
simulator records hold at most one spike per neuron, and the linear PSPs they drive integrate to the decoded
values; a ReLU model with BN within 0.5 pt of its ANN at the default K."""

from __future__ import annotations

import numpy as np
import pytest

import snncc
from snncc.backends.simulator import simulate
from snncc.backends.simulator.kernels import WindowedNeuronKernel
from snncc.backends.simulator.runner import build_program
from snncc.ir import run
from tests.helpers import onnxruntime_run
from tests.ttfs.ttfs_models import GRID, dense_clip, integer_input, residual_pool_cnn


def _recorded(graph, x):
    """Simulate with every windowed population recording its frames: ({name: (K, N, *shape)}, result)."""
    program = build_program(graph)
    recorders = {k.name: k for k in program.kernels if isinstance(k, WindowedNeuronKernel)}
    for kernel in recorders.values():
        kernel.trains = []
    result = simulate(program, x, 1, batch_size=16)
    return {name: np.concatenate(k.trains, axis=1) for name, k in recorders.items()}, result


def test_one_layer_equals_its_relu_exactly_at_fine_resolution():
    model, x = dense_clip(), integer_input(64, (12,))
    graph = snncc.compile(model, "ttfs", phases=GRID)       # no calibration data: theta = 32 from the Clip
    assert [n.op for n in graph.nodes if n.spiking] == ["ttfs_neuron"]
    trains, result = _recorded(graph, x)
    hidden = np.clip(x @ model_weights(model, "w1").T + model_weights(model, "b1"), 0, GRID)
    assert 0 < hidden.mean() and (hidden == 0).any()        # both active and silent neurons
    # the spike's step is K - relu: the earliness codes the ReLU value, exactly
    frames = trains["clip1"]
    step = np.where(frames.any(axis=0), frames.argmax(axis=0), -1)
    np.testing.assert_array_equal(step, np.where(hidden > 0, GRID - hidden, -1))
    np.testing.assert_array_equal(result.outputs[1], onnxruntime_run(model, x))


def model_weights(model, name):
    from onnx import numpy_helper

    return next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name)


def test_maxpool_and_residual_block_are_exact():
    model, x = residual_pool_cnn(), integer_input(48, (1, 8, 8), seed=2)
    graph = snncc.compile(model, "ttfs", phases=GRID)
    ops = [n.op for n in graph.nodes]
    assert "first_spike_pool" in ops and "delay" in ops       # pool by first spike; skip delayed one window
    assert graph.meta["latency_steps"] == str(3 * GRID)
    trains, result = _recorded(graph, x)
    np.testing.assert_array_equal(result.outputs[1], onnxruntime_run(model, x))
    # MaxPool: each pooled output is the earliest spike of its 2x2 window, read off the recorded trains
    frames = trains["clip1"]                                   # (K, N, 4, 8, 8)
    step = np.where(frames.any(axis=0), frames.argmax(axis=0), GRID)
    earliest = step.reshape(len(x), 4, 4, 2, 4, 2).min(axis=(3, 5))
    pooled = run(graph, x, keep=["pool1"])["pool1"]
    np.testing.assert_array_equal(pooled, GRID - earliest)    # Delta = 1: value = K - step, silent = 0


@pytest.mark.parametrize("make, shape", [(dense_clip, (12,)), (residual_pool_cnn, (1, 8, 8))])
def test_at_most_one_spike_per_neuron_on_the_recorded_trains(make, shape):
    model, x = make(), integer_input(32, shape, seed=5)
    graph = snncc.compile(model, "ttfs", phases=8)
    trains, result = _recorded(graph, x)
    for name, frames in trains.items():
        per_neuron = frames.sum(axis=0)
        assert per_neuron.max() <= 1, f"%{name} fired twice"
        assert np.isin(frames, (0, 1)).all()
    assert result.max_spikes_per_neuron <= 1


def test_linear_psps_of_the_recorded_spikes_integrate_to_the_decoded_value():
    """A spike at step k starts a PSP rising by W Delta per step; stepping the consumer's membrane through the
    window gives W Delta (K - k) at its end: the value the windowed simulator hands the consumer."""
    model, x = dense_clip(seed=3), integer_input(16, (12,), seed=3)
    graph = snncc.compile(model, "ttfs", phases=8)
    trains, result = _recorded(graph, x)
    frames = trains["clip1"]                                   # (K, N, 16)
    steps = frames.shape[0]
    theta = graph.constants[graph.node("clip1").theta]
    weight = graph.constants[graph.node("fc2").weight]
    slope = np.zeros((len(x), weight.shape[0]))
    membrane = np.zeros_like(slope)
    for k in range(steps):
        slope += (frames[k] * (theta / steps)) @ weight.T     # a spike adds W Delta to the slope from now on
        membrane += slope
    membrane += graph.constants[graph.node("fc2").bias]
    np.testing.assert_allclose(membrane, result.outputs[1], rtol=1e-5, atol=1e-4)


def test_bundled_cnn_with_batchnorm_within_half_a_point():
    calib = np.load("models/data/digits_calib.npz")["x"]
    test = np.load("models/data/digits_test.npz")
    graph = snncc.compile("models/digits_cnn.onnx", "ttfs", calibration=calib)
    assert graph.meta["ttfs_steps"] == "16"
    result = simulate(graph, test["x"], 1)
    ann = onnx_accuracy("models/digits_cnn.onnx", test["x"], test["y"])
    snn = float(np.mean(result.predictions[1] == test["y"]))
    assert ann - snn <= 0.005
    assert result.max_spikes_per_neuron == 1


def onnx_accuracy(path, x, y):
    from snncc.frontend.load import run_onnxruntime

    return float(np.mean(run_onnxruntime(path, x).argmax(-1) == y))
