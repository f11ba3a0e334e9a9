"""The FS / AMOS spiking circuit that replaces one scalar gate (algorithms.md §2.2), and its exact forward pass.

One FS neuron runs K steps (AMOS: K sub-neurons, sub-neuron t evaluated only at step t):

    v(1)   = x
    z(t)   = [v(t) > T(t)]            ([v(t) >= T(t)] when `ge`)        t = 1..K
    v(t+1) = v(t) - h(t) * z(t)
    y      = sum_t d(t) * z(t)  +  e

e (`bias_offset`) is nonzero only for affine reuse; a compiler adds it to the next layer's bias. The next layer sees
the spike z_j(t) of presynaptic unit j through the synapse W_ij * d(t) (§2.3). Sub-neuron t has a single evaluation,
so it spikes at most once, and the neuron emits at most K spikes per input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snncc.gates.gate import GateFunction


@dataclass(frozen=True, slots=True, kw_only=True)
class FSCircuit:
    """Parameters of an FS circuit for gate `gate` with K steps, valid on inputs in `x_range` = (lo, hi).

    `thresholds` T(t), `resets` h(t) and `output_weights` d(t) are tuples of K floats (arrays are accepted and
    converted). `ge` selects `>=` instead of `>` (the ReLU closed form needs it). `bias_offset` is the constant e of
    y above. `max_abs_error` and `mse` are the circuit's error against the exact gate on a dense uniform grid of
    `x_range` (for closed-form circuits, the analytic values of the quantizer).
    """

    gate: str
    K: int
    x_range: tuple[float, float]
    thresholds: tuple[float, ...]
    resets: tuple[float, ...]
    output_weights: tuple[float, ...]
    ge: bool = False
    bias_offset: float = 0.0
    max_abs_error: float
    mse: float

    def __post_init__(self) -> None:
        if not isinstance(self.K, int) or self.K < 1:
            raise ValueError(f"FS circuit for {self.gate!r}: K must be an integer >= 1, got {self.K!r}")
        lo, hi = (float(v) for v in self.x_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"FS circuit for {self.gate!r}: x_range must be finite with lo < hi, got {self.x_range}")
        object.__setattr__(self, "x_range", (lo, hi))
        for field_name in ("thresholds", "resets", "output_weights"):
            values = tuple(float(v) for v in np.asarray(getattr(self, field_name), dtype=float).reshape(-1))
            if len(values) != self.K:
                raise ValueError(
                    f"FS circuit for {self.gate!r}: {field_name} has {len(values)} values, expected K = {self.K}"
                )
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"FS circuit for {self.gate!r}: {field_name} contains a non-finite value")
            object.__setattr__(self, field_name, values)
        if not isinstance(self.ge, bool):
            raise ValueError(f"FS circuit for {self.gate!r}: ge must be a bool, got {self.ge!r}")
        object.__setattr__(self, "bias_offset", float(self.bias_offset))


def fs_forward(x: np.ndarray, circuit: FSCircuit, *, include_bias_offset: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Run the circuit on every element of `x` (any shape); return (y, spikes).

    y has x's shape (float64) and includes `bias_offset` unless `include_bias_offset=False` (what the spikes alone
    deliver to the next layer). spikes[t - 1] is z(t), a bool array of shape (K, *x.shape).
    """
    v = np.array(x, dtype=np.float64)
    spikes = np.empty((circuit.K, *v.shape), dtype=bool)
    y = np.zeros_like(v)
    for t, (threshold, reset, weight) in enumerate(zip(circuit.thresholds, circuit.resets, circuit.output_weights)):
        z = (v >= threshold) if circuit.ge else (v > threshold)
        spikes[t] = z
        v -= reset * z
        y += weight * z
    if include_bias_offset:
        y += circuit.bias_offset
    return y, spikes


def spike_counts(spikes: np.ndarray) -> np.ndarray:
    """Spikes emitted per input: sum over the K steps of `fs_forward`'s spike array (each sub-neuron adds 0 or 1)."""
    return np.count_nonzero(spikes, axis=0)


def mean_spike_count(circuit: FSCircuit, num_points: int = 100_001) -> float:
    """Mean spikes per input for x uniform on the circuit's x_range (a dense grid of `num_points`)."""
    _, spikes = fs_forward(np.linspace(*circuit.x_range, num_points), circuit)
    return float(spike_counts(spikes).mean())


def approximation_error(circuit: FSCircuit, function: GateFunction, x_range: tuple[float, float] | None = None,
                        num_points: int = 100_001) -> tuple[float, float]:
    """(max abs error, MSE) of the circuit's y against `function` on a uniform grid of `x_range` (default: its own)."""
    x = np.linspace(*(x_range or circuit.x_range), num_points)
    y, _ = fs_forward(x, circuit)
    error = y - function(x)
    return float(np.max(np.abs(error))), float(np.mean(error**2))


def relu_circuit(alpha: float, K: int, *, gate: str = "relu") -> FSCircuit:
    """The closed-form ReLU / Clip(0, alpha) circuit: T(t) = h(t) = d(t) = alpha * 2^-t, compared with `>=`.

    Binary successive approximation computes the K-bit floor quantizer exactly (§2.4a):

        y = min(floor(max(x, 0) * 2^K / alpha) * alpha / 2^K,  alpha * (1 - 2^-K))

    Powers of two keep every subtraction exact in floating point. Against clip(x, 0, alpha) on [0, alpha] the
    error lies in [0, Delta], Delta = alpha * 2^-K, reached at x = alpha; the floor error is uniform on [0, Delta),
    so the MSE for uniform x is Delta^2 / 3. Inputs below 0 give y = 0 exactly.
    """
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"{gate} circuit: alpha (the clip bound or calibrated max of x) must be > 0, got {alpha}")
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"{gate} circuit: K must be an integer >= 1, got {K!r}")
    steps = tuple(alpha * 2.0**-t for t in range(1, K + 1))
    delta = alpha * 2.0**-K
    return FSCircuit(
        gate=gate, K=K, x_range=(0.0, alpha), thresholds=steps, resets=steps, output_weights=steps, ge=True,
        max_abs_error=delta, mse=delta**2 / 3.0,
    )


def affine_circuit(base_circuit: FSCircuit, a: float, b: float = 0.0, c: float = 1.0, e: float = 0.0, *,
                   gate: str | None = None) -> FSCircuit:
    """Circuit of g(x) = c * f(a*x + b) + e from the circuit of f (§2.4c); requires a > 0.

    T' = (T - b)/a, h' = h/a, d' = c*d, bias_offset' = c * bias_offset + e, x_range' = (x_range - b)/a. The neuron
    on x sees v'(t) = (v(t) - b)/a where v runs on a*x + b, so the spikes are identical. When a and c are powers of
    two and b = 0 every step is exact in floating point and g's output is bit-identical to c*FS_f(a*x) + e. The
    errors scale to |c| * max_abs_error and c^2 * mse (the grids map onto each other).
    """
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"affine reuse of {base_circuit.gate!r}: a must be finite and > 0, got {a}")
    if not all(math.isfinite(value) for value in (b, c, e)):
        raise ValueError(f"affine reuse of {base_circuit.gate!r}: b, c, e must be finite, got {(b, c, e)}")
    lo, hi = base_circuit.x_range
    return FSCircuit(
        gate=gate or f"{c:g}*{base_circuit.gate}({a:g}*x{b:+g}){e:+g}",
        K=base_circuit.K,
        x_range=((lo - b) / a, (hi - b) / a),
        thresholds=tuple((threshold - b) / a for threshold in base_circuit.thresholds),
        resets=tuple(reset / a for reset in base_circuit.resets),
        output_weights=tuple(c * weight for weight in base_circuit.output_weights),
        ge=base_circuit.ge,
        bias_offset=c * base_circuit.bias_offset + e,
        max_abs_error=abs(c) * base_circuit.max_abs_error,
        mse=c**2 * base_circuit.mse,
    )
