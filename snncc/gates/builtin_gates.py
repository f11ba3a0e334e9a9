"""The built-in gates, registered when `snncc.gates` is imported.

Default K and ranges follow the FS-neuron authors' choices where they exist (algorithms.md §2.4: sigmoid K = 12 on
[-10, 10], Swish/SiLU K = 16 on [-4, 4], ReLU K = 10 with alpha = 25); the others are chosen to match.
"""

from __future__ import annotations

import math

import numpy as np

from snncc.gates.gate import AffineReuse, Gate, Lowering, register_gate

LEAKY_RELU_SLOPE = 0.01
HARD_SIGMOID_ALPHA = 0.2
HARD_SIGMOID_BETA = 0.5

_erf = np.vectorize(math.erf, otypes=[float])


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0)."""
    return np.maximum(x, 0.0)


def relu6(x: np.ndarray) -> np.ndarray:
    """min(max(x, 0), 6): the member c = 6 of the Clip(0, c) family."""
    return np.clip(x, 0.0, 6.0)


def leaky_relu(x: np.ndarray) -> np.ndarray:
    """x for x >= 0, 0.01*x otherwise (ONNX LeakyRelu's default slope)."""
    return np.where(x >= 0, x, LEAKY_RELU_SLOPE * x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2 so it never overflows."""
    return 0.5 + 0.5 * np.tanh(0.5 * np.asarray(x, dtype=float))


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """max(0, min(1, 0.2*x + 0.5)) (ONNX HardSigmoid with its default alpha = 0.2, beta = 0.5)."""
    return np.clip(HARD_SIGMOID_ALPHA * np.asarray(x, dtype=float) + HARD_SIGMOID_BETA, 0.0, 1.0)


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x) = 2*sigmoid(2x) - 1."""
    return np.tanh(x)


def silu(x: np.ndarray) -> np.ndarray:
    """SiLU / Swish: x * sigmoid(x)."""
    x = np.asarray(x, dtype=float)
    return x * sigmoid(x)


def hardswish(x: np.ndarray) -> np.ndarray:
    """x * min(max(x + 3, 0), 6) / 6 (ONNX HardSwish)."""
    x = np.asarray(x, dtype=float)
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


def hardswish_rest(x: np.ndarray) -> np.ndarray:
    """hardswish(x) - relu(x): x (x + 3) / 6 on [-3, 0], x (x - 3) / 6 on [0, 3], 0 elsewhere (so r(x) = r(x - 3)
    on [0, 3])."""
    x = np.asarray(x, dtype=float)
    return hardswish(x) - np.maximum(x, 0.0)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU: x * Phi(x) = x * (1 + erf(x / sqrt(2))) / 2."""
    x = np.asarray(x, dtype=float)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (torch approximate="tanh", ONNX Gelu approximate="tanh"):
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); within 5e-4 of the exact GELU."""
    x = np.asarray(x, dtype=float)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


BUILTIN_GATES: tuple[Gate, ...] = (
    Gate(
        name="relu", function=relu, default_K=10, default_range=(0.0, 25.0), lowering=Lowering.CLOSED_FORM,
        description="ReLU; alpha = x_range[1] is the calibrated maximum of x (the FS authors' 'ideal ReLU' is "
                    "K = 10, alpha = 25)",
    ),
    Gate(
        name="clip", function=relu6, default_K=8, default_range=(0.0, 6.0), lowering=Lowering.CLOSED_FORM,
        description="Clip(0, c) with c = x_range[1] (data-free alpha); `function` is the c = 6 member, ReLU6",
    ),
    Gate(
        name="leaky_relu", function=leaky_relu, default_K=12, default_range=(-4.0, 4.0), lowering=Lowering.FITTED,
        description="LeakyRelu with slope 0.01, fitted. Other slopes need their own registered gate. An exact "
                    "alternative is (1 - s)*relu(x) + s*x with the linear part s*x folded into the next layer",
    ),
    Gate(
        name="sigmoid", function=sigmoid, default_K=12, default_range=(-10.0, 10.0), lowering=Lowering.FITTED,
        description="logistic sigmoid, fitted (the FS authors' K = 12 on [-10, 10])",
    ),
    Gate(
        name="hard_sigmoid", function=hard_sigmoid, default_K=10, default_range=(-4.0, 4.0),
        lowering=Lowering.FITTED,
        description="ONNX HardSigmoid with alpha = 0.2, beta = 0.5, fitted. Another (alpha', beta') is the affine "
                    "reuse a = alpha'/0.2, b = (beta' - 0.5)/0.2 of this gate",
    ),
    Gate(
        name="tanh", function=tanh, default_K=12, default_range=(-5.0, 5.0), lowering=Lowering.AFFINE,
        affine=AffineReuse(base="sigmoid", a=2.0, b=0.0, c=2.0, e=-1.0),
        description="tanh(x) = 2*sigmoid(2x) - 1, reusing the sigmoid circuit",
    ),
    Gate(
        name="silu", function=silu, default_K=16, default_range=(-4.0, 4.0), lowering=Lowering.FITTED,
        description="SiLU / Swish x*sigmoid(x), fitted (the FS authors' K = 16 on [-4, 4])",
    ),
    Gate(
        name="hardswish", function=hardswish, default_K=16, default_range=(-4.0, 4.0), lowering=Lowering.FITTED,
        description="ONNX HardSwish x*clip(x/6 + 1/2, 0, 1); lower-gates builds it as relu(x) + hardswish_rest(x)",
        rest_support=(-3.0, 3.0), rest_period=3.0,
    ),
    Gate(
        name="hardswish_rest", function=hardswish_rest, default_K=16, default_range=(-3.0, 3.0),
        lowering=Lowering.FITTED,
        description="hardswish(x) - relu(x), in [-0.375, 0] and 0 outside (-3, 3): the second circuit of a "
                    "HardSwish (a staircase, snncc.gates.levels)",
    ),
    Gate(
        name="gelu", function=gelu, default_K=16, default_range=(-4.0, 4.0), lowering=Lowering.FITTED,
        description="exact GELU x*Phi(x), fitted directly (it is not affine in sigmoid)",
    ),
    Gate(
        name="gelu_tanh", function=gelu_tanh, default_K=16, default_range=(-4.0, 4.0), lowering=Lowering.FITTED,
        description="GELU's tanh approximation, fitted; a gate of its own so that the ANN graph computes what the "
                    "source model computes (it differs from the exact GELU by up to 5e-4)",
    ),
)


def register_builtin_gates() -> None:
    """Register every built-in gate (idempotent)."""
    for gate in BUILTIN_GATES:
        register_gate(gate, replace=True)


register_builtin_gates()
