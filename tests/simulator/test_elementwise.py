"""The add kernel's one-call forms (x0 + x1, x0 - x1) give the general weighted sum's floats bit for bit."""

import numpy as np
import pytest

from snncc.backends.simulator import kernels


def add_step(coeffs, values):
    node = {"name": "a", "op": "add", "shape": list(values[0].shape[1:]),
            "inputs": [f"x{i}" for i in range(len(values))], "attrs": {"coeffs": list(coeffs)}}
    kernel = kernels.KERNELS["add"](node, {}, [v.shape[1:] for v in values])
    out = kernel.bind([kernels.Signal(v) for v in values], values[0].shape[0], kernels.RunOptions()).value
    kernel.step(1)
    return kernel, out


@pytest.mark.parametrize("coeffs", [(1, -1), (1, 1), (1, -1, 0.5), (1, 1, -1), (-1, 1), (0.5, -1)])
def test_add_equals_weighted_sum(coeffs):
    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 1e38, -1e38, 1.0, -1.0], np.float32)
    values = [np.concatenate([rng.standard_normal((2, 40)).astype(np.float32), np.tile(special, (2, 1))], axis=1)
              for _ in coeffs]
    values[1][:, 40:] = np.roll(special, 3)        # signed zeros and extremes against each other
    reference = values[0] * np.float32(coeffs[0])
    for coeff, value in zip(coeffs[1:], values[1:]):
        reference = reference + value * np.float32(coeff)
    kernel, out = add_step(coeffs, values)
    assert (kernel._pair is not None) == (coeffs[0] == 1 and abs(coeffs[1]) == 1)
    np.testing.assert_array_equal(out.view(np.int32), reference.view(np.int32))
