"""The gate registry: built-ins, clear errors, and a new gate added through the public API only."""

import numpy as np
import pytest

from snncc.gates import (AffineReuse, FitSettings, Gate, Lowering, UnknownGateError, fs_forward, get_circuit, get_gate,
                         register_gate, registered_gates)


def test_builtin_gates_are_registered_with_their_lowering():
    assert {"relu", "clip", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "silu", "hardswish", "gelu"} <= set(
        registered_gates())
    assert get_gate("relu").lowering is Lowering.CLOSED_FORM
    assert get_gate("sigmoid").default_K == 12 and get_gate("sigmoid").default_range == (-10.0, 10.0)
    assert get_gate("tanh").affine == AffineReuse(base="sigmoid", a=2.0, b=0.0, c=2.0, e=-1.0)


@pytest.mark.parametrize("name", ["sigmoid", "silu", "hardswish", "hard_sigmoid", "leaky_relu", "tanh"])
def test_builtin_gate_functions_are_the_textbook_ones(name):
    x = np.linspace(-6, 6, 1001)
    sigmoid = 1 / (1 + np.exp(-x))
    expected = {
        "sigmoid": sigmoid,
        "silu": x * sigmoid,
        "hardswish": x * np.clip(x + 3, 0, 6) / 6,
        "hard_sigmoid": np.clip(0.2 * x + 0.5, 0, 1),
        "leaky_relu": np.where(x > 0, x, 0.01 * x),
        "tanh": 2 / (1 + np.exp(-2 * x)) - 1,
    }[name]
    np.testing.assert_allclose(get_gate(name).function(x), expected, atol=1e-12)


def test_gelu_is_the_exact_erf_form():
    phi = {-1.0: 0.15865525393145707, 1.0: 0.8413447460685429, 2.0: 0.9772498680518208}  # standard normal CDF
    x = np.array(list(phi))
    np.testing.assert_allclose(get_gate("gelu").function(x), x * np.array(list(phi.values())), rtol=1e-15)


def test_unknown_gate_name_gives_a_clear_error():
    with pytest.raises(UnknownGateError) as caught:
        get_gate("swishh")
    message = str(caught.value)
    assert isinstance(caught.value, KeyError)
    assert "unknown gate 'swishh'" in message and "sigmoid" in message and "register_gate" in message
    with pytest.raises(KeyError, match="registered gates: .*silu"):
        get_circuit("swishh", 8)


def test_invalid_gates_are_rejected_with_the_reason():
    with pytest.raises(ValueError, match="lo < hi"):
        Gate(name="g", function=np.abs, default_K=4, default_range=(1.0, -1.0), lowering=Lowering.FITTED)
    with pytest.raises(ValueError, match="exactly when lowering is Lowering.AFFINE"):
        Gate(name="g", function=np.abs, default_K=4, default_range=(-1.0, 1.0), lowering=Lowering.AFFINE)
    with pytest.raises(ValueError, match="a must be > 0"):
        AffineReuse(base="sigmoid", a=-1.0)
    with pytest.raises(ValueError, match="rest_support must be finite"):
        Gate(name="g", function=np.abs, default_K=4, default_range=(-1.0, 1.0), lowering=Lowering.FITTED,
             rest_support=(3.0, -3.0))
    with pytest.raises(ValueError, match="rest_period must lie in"):
        Gate(name="g", function=np.abs, default_K=4, default_range=(-1.0, 1.0), lowering=Lowering.FITTED,
             rest_support=(-3.0, 3.0), rest_period=6.0)
    with pytest.raises(ValueError, match="already registered"):
        register_gate(get_gate("sigmoid"))
    with pytest.raises(UnknownGateError, match="no_such_base"):
        register_gate(Gate(name="g", function=np.abs, default_K=4, default_range=(-1.0, 1.0),
                           lowering=Lowering.AFFINE, affine=AffineReuse(base="no_such_base", a=1.0)))


def test_softplus_registered_through_the_public_api_fits_quickly_and_accurately():
    softplus = Gate(name="softplus", function=lambda x: np.logaddexp(0.0, x), default_K=8, default_range=(-4.0, 4.0),
                    lowering=Lowering.FITTED, description="log(1 + exp(x)), registered by a test")
    register_gate(softplus, replace=True)
    assert "softplus" in registered_gates()
    quick = FitSettings(restarts=8, steps=300, halving_interval=100, survivors=2)
    circuit = get_circuit("softplus", fit_settings=quick)
    assert circuit.gate == "softplus" and circuit.K == 8 and circuit.x_range == (-4.0, 4.0)
    assert get_circuit("softplus", 8, (-4.0, 4.0), fit_settings=quick) is circuit  # cached: fitted once

    x = np.linspace(-4, 4, 100_001)
    target = np.logaddexp(0.0, x)
    error = fs_forward(x, circuit)[0] - target
    print(f"softplus K=8: max abs error {np.abs(error).max():.3f}, MSE {np.mean(error**2):.2e}")
    assert np.abs(error).max() < 0.05 * np.ptp(target)  # within 5% of the output range (0.02 .. 4.02)
    assert np.mean(error**2) < 1e-2
