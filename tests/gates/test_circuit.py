"""FS circuit semantics (algorithms.md §2.2): closed-form ReLU, at-most-one spike, max tree, affine reuse."""

import dataclasses

import numpy as np
import pytest

from snncc.gates import FSCircuit, affine_circuit, fs_forward, get_circuit, relu_circuit, spike_counts


def floor_quantizer(x: np.ndarray, alpha: float, K: int) -> np.ndarray:
    """y = min(floor(max(x, 0) 2^K / alpha) alpha / 2^K, alpha (1 - 2^-K))."""
    return np.minimum(np.floor(np.maximum(x, 0.0) * 2**K / alpha) * alpha / 2**K, alpha * (1 - 2.0**-K))


@pytest.mark.parametrize("K", range(4, 11))
@pytest.mark.parametrize("alpha", [1.0, 6.0, 25.0, 0.375])
def test_relu_circuit_is_the_floor_quantizer_exactly(K, alpha):
    rng = np.random.default_rng(K)
    grid = np.arange(-2, 2**K + 3) * (alpha / 2**K)
    x = np.concatenate([
        rng.uniform(-0.5 * alpha, 1.5 * alpha, 20_000),
        grid, np.nextafter(grid, -np.inf), np.nextafter(grid, np.inf),
        [0.0, -0.0, alpha, 10 * alpha, -alpha],
    ])
    y, _ = fs_forward(x, relu_circuit(alpha, K))
    np.testing.assert_array_equal(y, floor_quantizer(x, alpha, K))


def test_relu_circuit_with_strict_comparison_rounds_grid_points_one_step_down():
    K, alpha = 6, 1.0
    circuit = dataclasses.replace(relu_circuit(alpha, K), ge=False)
    grid = np.arange(1, 2**K) * alpha / 2**K
    y, _ = fs_forward(grid, circuit)
    np.testing.assert_array_equal(y, grid - alpha / 2**K)


def test_each_sub_neuron_spikes_at_most_once_and_the_amos_unrolling_agrees():
    circuit = get_circuit("sigmoid", 12)
    x = np.linspace(-10, 10, 20_001)
    y, spikes = fs_forward(x, circuit)
    assert spikes.dtype == bool and spikes.shape == (circuit.K, x.size)

    # AMOS: sub-neuron t listens to x through a delay line of t steps and to every earlier sub-neuron j through an
    # inhibitory synapse -h(j); it is evaluated once, at step t, and latches a `fired` flag.
    fired = np.zeros((circuit.K, x.size), dtype=bool)
    spikes_per_sub_neuron = np.zeros((circuit.K, x.size), dtype=int)
    for step in range(circuit.K):
        membrane = x - np.tensordot(np.asarray(circuit.resets[:step]), fired[:step], axes=1)
        fires = membrane > circuit.thresholds[step]
        fired[step] = fires
        spikes_per_sub_neuron[step] += fires
    assert spikes_per_sub_neuron.max() <= 1
    np.testing.assert_array_equal(fired, spikes)
    np.testing.assert_allclose(np.tensordot(np.asarray(circuit.output_weights), fired, axes=1), y, atol=1e-12)

    counts = spike_counts(spikes)
    assert counts.max() <= circuit.K
    print(f"sigmoid K=12: mean spikes per neuron {counts.mean():.2f} (x uniform on [-10, 10])")


@pytest.mark.parametrize("K", [3, 6])
def test_max_tree_of_relu_circuits_is_exact_on_the_binary_grid(K):
    """max(a, b) = b + relu(a - b) with FS-ReLU circuits of the same alpha and K (§1.4, §2.5)."""
    alpha = 25.0
    relu = relu_circuit(alpha, K)
    grid = np.arange(2**K) * alpha / 2**K
    a, b = (pair.ravel() for pair in np.meshgrid(grid, grid))  # every grid pair
    max_ab = b + fs_forward(a - b, relu)[0]
    np.testing.assert_array_equal(max_ab, np.maximum(a, b))

    rng = np.random.default_rng(0)
    window = rng.choice(grid, size=(4, 50_000))  # a 2x2 max-pool window as a tree of two levels
    left = window[1] + fs_forward(window[0] - window[1], relu)[0]
    right = window[3] + fs_forward(window[2] - window[3], relu)[0]
    pooled = right + fs_forward(left - right, relu)[0]
    np.testing.assert_array_equal(pooled, window.max(axis=0))


def test_tanh_by_affine_reuse_is_bit_exact_with_the_sigmoid_circuit():
    sigmoid = get_circuit("sigmoid", 12)
    tanh = get_circuit("tanh", 12)
    assert tanh.gate == "tanh" and tanh.x_range == (-5.0, 5.0) and tanh.bias_offset == -1.0
    x = np.concatenate([np.linspace(-5, 5, 100_001), np.random.default_rng(1).uniform(-6, 6, 100_000),
                        np.asarray(tanh.thresholds)])
    y_tanh, spikes_tanh = fs_forward(x, tanh)
    y_sigmoid, spikes_sigmoid = fs_forward(2 * x, sigmoid)
    assert np.array_equal(y_tanh, 2 * y_sigmoid - 1)
    assert np.array_equal(spikes_tanh, spikes_sigmoid)
    error = np.abs(y_tanh - np.tanh(x))[: 100_001].max()
    assert error <= 2 * sigmoid.max_abs_error + 1e-12


def test_affine_circuit_maps_parameters_and_errors():
    base = get_circuit("sigmoid", 8)
    g = affine_circuit(base, 0.5, 1.0, -3.0, 2.0)
    assert g.gate == "-3*sigmoid(0.5*x+1)+2"
    assert g.x_range == ((base.x_range[0] - 1) / 0.5, (base.x_range[1] - 1) / 0.5)
    assert g.thresholds == tuple((T - 1) / 0.5 for T in base.thresholds)
    assert g.resets == tuple(h / 0.5 for h in base.resets)
    assert g.output_weights == tuple(-3 * d for d in base.output_weights)
    assert g.bias_offset == 2.0 and g.mse == pytest.approx(9 * base.mse)
    x = np.linspace(*g.x_range, 1001)
    np.testing.assert_allclose(fs_forward(x, g)[0], -3 * fs_forward(0.5 * x + 1, base)[0] + 2, atol=1e-12)
    with pytest.raises(ValueError, match="a must be"):
        affine_circuit(base, -2.0)


def test_fs_forward_keeps_the_input_shape_and_can_leave_out_the_bias_offset():
    tanh = get_circuit("tanh", 12)
    x = np.random.default_rng(2).normal(size=(2, 3, 4))
    y, spikes = fs_forward(x, tanh)
    assert y.shape == x.shape and spikes.shape == (12, 2, 3, 4)
    y_spikes_only, _ = fs_forward(x, tanh, include_bias_offset=False)
    np.testing.assert_array_equal(y_spikes_only - 1.0, y)
    y_scalar, spikes_scalar = fs_forward(0.3, tanh)
    assert y_scalar.shape == () and spikes_scalar.shape == (12,)


def test_fs_circuit_rejects_inconsistent_parameters():
    with pytest.raises(ValueError, match="thresholds has 2 values, expected K = 3"):
        FSCircuit(gate="g", K=3, x_range=(0, 1), thresholds=(1, 2), resets=(1, 2, 3), output_weights=(1, 2, 3),
                  max_abs_error=0.0, mse=0.0)
    with pytest.raises(ValueError, match="lo < hi"):
        FSCircuit(gate="g", K=1, x_range=(1, 0), thresholds=(1,), resets=(1,), output_weights=(1,),
                  max_abs_error=0.0, mse=0.0)
    with pytest.raises(ValueError, match="alpha"):
        relu_circuit(0.0, 4)
