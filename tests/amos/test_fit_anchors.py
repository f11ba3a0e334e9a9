"""The circuits `lower-gates` draws for the default ranges come from the shipped table and reach the anchors of
algorithms.md §2.4: sigmoid K=12 max error <= 0.06 on [-10, 10], SiLU K=16 <= 0.16 on [-4, 4], and the error falls
as K grows (K = 4..16). Errors are measured here on a dense grid, not read from the table."""

import numpy as np
import pytest

from snncc.gates import approximation_error, get_circuit, get_gate, shipped_gate_table

KS = range(4, 17)


def _measured(gate: str, K: int, x_range):
    assert shipped_gate_table().lookup(gate, K, x_range) is not None, f"{gate} K={K} {x_range} is not in the table"
    circuit = get_circuit(gate, K, x_range)
    return approximation_error(circuit, get_gate(gate).function, x_range, num_points=200_001)


@pytest.mark.parametrize(("gate", "K", "x_range", "bound"), [("sigmoid", 12, (-10.0, 10.0), 0.06),
                                                             ("silu", 16, (-4.0, 4.0), 0.16)])
def test_fitted_circuits_reach_the_authors_anchors(gate, K, x_range, bound):
    max_abs, mse = _measured(gate, K, x_range)
    assert max_abs <= bound


@pytest.mark.parametrize(("gate", "x_range"), [("sigmoid", (-10.0, 10.0)), ("silu", (-4.0, 4.0))])
def test_error_falls_as_k_grows(gate, x_range):
    mse = np.array([_measured(gate, K, x_range)[1] for K in KS])
    assert mse[-1] < mse[0] / 5
    # never worse with one more sub-neuron (a plateau is allowed: the sigmoid fits for K = 11..15 tie)
    assert np.all(mse[1:] <= mse[:-1] * (1 + 1e-9))
