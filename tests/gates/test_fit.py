"""Surrogate-gradient fit (algorithms.md §2.4b): the backward pass, the importance weight, quick deterministic fits."""

import numpy as np
import pytest

from snncc.gates import FitSettings, fit_circuit, fs_forward, get_gate, importance_weight, loss_and_gradient
from snncc.gates.fit import FitProblem


def small_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.linspace(-3, 3, 64)
    problem = FitProblem(x=x, target=np.tanh(x), weight=rng.uniform(0.5, 2.0, x.size), c_v=0.1)
    restarts, K = 3, 5
    params = (rng.uniform(-1, 1, (restarts, K)), rng.uniform(-1, 0, (restarts, K)), rng.uniform(-0.5, 1, (restarts, K)))
    return problem, params


def test_backward_pass_matches_finite_differences_of_the_relaxed_loss():
    """With H replaced by S (S' = max(0, 1 - |u|)) the backward pass of the spec is the exact gradient."""
    problem, params = small_problem()
    _, _, grads = loss_and_gradient(*params, problem, relaxed=True)
    step = 1e-6
    for which, (param, grad) in enumerate(zip(params, grads)):
        numeric = np.empty_like(param)
        for index in np.ndindex(param.shape):
            shifted = [p.copy() for p in params]
            shifted[which][index] += step
            loss_plus = loss_and_gradient(*shifted, problem, relaxed=True)[0].sum()
            shifted[which][index] -= 2 * step
            loss_minus = loss_and_gradient(*shifted, problem, relaxed=True)[0].sum()
            numeric[index] = (loss_plus - loss_minus) / (2 * step)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8, err_msg=f"gradient of parameter {which}")


def test_output_weight_gradient_is_exact_with_heaviside_spikes():
    """y is linear in d, so gd needs no surrogate: it matches finite differences of the true (Heaviside) loss."""
    problem, (thresholds, resets, output_weights) = small_problem(seed=1)
    _, _, (_, _, grad_output_weights) = loss_and_gradient(thresholds, resets, output_weights, problem)
    step = 1e-6
    for index in np.ndindex(output_weights.shape):
        plus, minus = output_weights.copy(), output_weights.copy()
        plus[index] += step
        minus[index] -= step
        numeric = (loss_and_gradient(thresholds, resets, plus, problem)[0].sum()
                   - loss_and_gradient(thresholds, resets, minus, problem)[0].sum()) / (2 * step)
        assert grad_output_weights[index] == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_importance_weight_is_piecewise_linear_through_the_spec_knots():
    mean, std = 1.0, 0.5
    knots = np.array([-10, mean - 3 * std, mean - 2 * std, mean, mean + 2 * std, mean + 3 * std, 10])
    np.testing.assert_allclose(importance_weight(knots, (-10, 10), mean, std), [0.5, 1, 10, 11, 10, 1, 0.5])
    np.testing.assert_allclose(importance_weight(np.array([mean + std]), (-10, 10), mean, std), [10.5])
    np.testing.assert_array_equal(importance_weight(knots, (-10, 10)), np.ones(7))
    # mean - 3 std lies below the range, so the x_min knot is dropped and the weight follows the inner knots
    assert importance_weight(np.array([-1.0]), (-1.0, 10.0), 0.0, 1.0)[0] == pytest.approx(10.5)
    with pytest.raises(ValueError, match="std > 0"):
        importance_weight(knots, (-10, 10), 0.0, 0.0)


def test_a_quick_fit_is_deterministic_and_accurate():
    settings = FitSettings(restarts=4, steps=200)
    first = fit_circuit("sigmoid", 6, (-6.0, 6.0), settings=settings)
    second = fit_circuit("sigmoid", 6, (-6.0, 6.0), settings=settings)
    assert first == second
    x = np.linspace(-6, 6, 100_001)
    error = fs_forward(x, first)[0] - get_gate("sigmoid").function(x)
    assert np.abs(error).max() == pytest.approx(first.max_abs_error)
    assert np.mean(error**2) == pytest.approx(first.mse)
    assert first.max_abs_error < 0.25 and first.mse < 5e-3


def test_importance_weight_lowers_the_error_where_the_inputs_are():
    settings = FitSettings(restarts=4, steps=200)
    uniform = fit_circuit("silu", 6, (-4.0, 4.0), settings=settings)
    weighted = fit_circuit("silu", 6, (-4.0, 4.0), mean=1.0, std=0.5, settings=settings)
    x = np.linspace(0.0, 2.0, 10_001)
    target = get_gate("silu").function(x)
    core_mse = [np.mean((fs_forward(x, circuit)[0] - target) ** 2) for circuit in (uniform, weighted)]
    assert core_mse[1] < core_mse[0]


def test_a_warm_start_from_fewer_steps_is_never_beaten_by_the_fit():
    settings = FitSettings(restarts=2, steps=50, halving_interval=50, survivors=2, polish_sweeps=1)
    warm = fit_circuit("silu", 6, (-4.0, 4.0), settings=FitSettings(restarts=8, steps=300))
    extended = fit_circuit("silu", 7, (-4.0, 4.0), settings=settings, warm_start=warm)
    cold = fit_circuit("silu", 7, (-4.0, 4.0), settings=settings)
    assert extended.mse <= warm.mse * (1 + 1e-9)
    assert extended.mse < cold.mse
    with pytest.raises(ValueError, match="warm start has K = 6 > 5"):
        fit_circuit("silu", 5, settings=settings, warm_start=warm)


def test_fit_rejects_affine_gates_and_bad_settings():
    with pytest.raises(ValueError, match="fit the base gate"):
        fit_circuit("tanh", 4)
    with pytest.raises(ValueError, match="restarts"):
        FitSettings(restarts=0)
