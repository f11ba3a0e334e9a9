"""Fit an FS circuit (T, h, d) to a gate by surrogate-gradient descent (algorithms.md §2.4b).

Forward, on a grid x_1..x_N of the input range (v_1 = x):

    u_t = (v_t - T_t) / (|v_t| + 1)          normalised distance to threshold
    z_t = H(u_t)                             spike, i.e. [v_t > T_t]
    v_{t+1} = v_t - h_t z_t
    y = sum_t d_t z_t

Loss, with the importance weight w(x) and target y* = f(x):

    L = mean(w (y - y*)^2) + c_v * sum_t m_t^2,      m_t = mean(relu(|u_t| - 1))

The c_v term pulls every v_t to within one normalised unit of its threshold, where the surrogate has gradient. The
backward pass replaces H'(u) by the pseudo-derivative max(0, 1 - |u|); with g_y = 2 w (y - y*) / N and G = dL/dv_{t+1}
(G = 0 after the last step), for t = K..1:

    gd_t = sum g_y z_t
    gz   = g_y d_t - h_t G
    gh_t = -sum z_t G
    gu   = gz max(0, 1 - |u_t|) + 2 c_v m_t sign(u_t) [|u_t| > 1] / N
    G    = G + gu (1 - u_t sign(v_t)) / (|v_t| + 1)          (du/dv)
    gT_t = -sum gu / (|v_t| + 1)

This is the exact gradient of L when H is replaced by the antiderivative S of the pseudo-derivative (`relaxed=True`),
which is how the tests check it against finite differences.

Optimisation, in three stages:

1. Adam on R random restarts at once (leading axis of every array), as in §2.4b: learning rates drawn from
   U[0.09, 0.5], init h ~ U[-1, 0], d ~ U[-0.5, 1], T ~ U[-1, 1]. Each restart keeps its best iterate under the true
   (Heaviside) loss, and successive halving drops the worse half of the restarts at fixed intervals, so the
   survivors get long runs for the price of a few short ones. The input is first scaled by a power of two so the
   range fits in [-8, 8] (an exact reparameterisation, see `affine_circuit`).
2. Polish (not in the spec): the surrogate gradient only wanders near a good (T, h), while the exact loss is
   cheap to evaluate. Given (T, h) the output weights enter linearly, so d is eliminated by weighted least squares
   and a coordinate search on T_t, h_t minimises the exact weighted MSE (see `_coordinate_search`). Measured with
   the default settings (seeds 0-2): the MSE falls 2.4-3.7x for sigmoid K = 12 and 1.4-2.4x for SiLU K = 16.
3. The survivor with the lowest weighted MSE, with its least-squares d on the dense evaluation grid, wins.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from snncc.gates.circuit import FSCircuit, approximation_error
from snncc.gates.gate import Gate, GateFunction, Lowering, get_gate

# Bump whenever a change to this module changes what `fit_circuit` returns: it is part of the on-disk cache key.
FITTER_VERSION = 1
IMPORTANCE_KNOT_OFFSETS = (-3.0, -2.0, 0.0, 2.0, 3.0)
IMPORTANCE_KNOT_WEIGHTS = (1.0, 10.0, 11.0, 10.0, 1.0)
IMPORTANCE_EDGE_WEIGHT = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class FitSettings:
    """Knobs of `fit_circuit`; the defaults are the runtime refit (about 5-7 s of CPU for K = 12-16).

    Adam: `restarts` random starts, `steps` steps on `grid_points` uniform points; every `halving_interval` steps the
    worse half (by the best weighted MSE each has reached) is dropped until `survivors` remain. Polish:
    `polish_sweeps` sweeps of coordinate search over (T, h) on `polish_points` points, trying `polish_candidates`
    values within +- `polish_width` x (range width) of each parameter (0 sweeps: the pure §2.4b fit). Errors are
    measured on `eval_points` points.
    """

    restarts: int = 32
    steps: int = 1500
    halving_interval: int = 150
    survivors: int = 4
    grid_points: int = 512
    polish_sweeps: int = 8
    polish_candidates: int = 17
    polish_width: float = 1 / 32
    polish_points: int = 512
    eval_points: int = 100_001
    c_v: float = 0.1
    learning_rate_range: tuple[float, float] = (0.09, 0.5)
    seed: int = 0

    def __post_init__(self) -> None:
        for field_name in ("restarts", "steps", "halving_interval", "survivors", "grid_points", "polish_candidates",
                           "polish_points", "eval_points"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"FitSettings.{field_name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.polish_sweeps, int) or self.polish_sweeps < 0:
            raise ValueError(f"FitSettings.polish_sweeps must be an integer >= 0, got {self.polish_sweeps!r}")
        if not 0 < self.polish_width <= 1:
            raise ValueError(f"FitSettings.polish_width must be in (0, 1], got {self.polish_width}")
        if self.c_v < 0:
            raise ValueError(f"FitSettings.c_v must be >= 0, got {self.c_v}")
        lr_lo, lr_hi = self.learning_rate_range
        if not 0 < lr_lo <= lr_hi:
            raise ValueError(
                f"FitSettings.learning_rate_range must satisfy 0 < lo <= hi, got {self.learning_rate_range}")


@dataclass(frozen=True, slots=True)
class FitProblem:
    """Grid `x` (N,), target `y* = f(x)` (N,), importance weight `w` (N,), and the c_v of the loss."""

    x: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    c_v: float


def importance_weight(x: np.ndarray, x_range: tuple[float, float], mean: float | None = None,
                      std: float | None = None) -> np.ndarray:
    """Piecewise-linear weight w(x) that favours the inputs a layer actually sees (1 everywhere without statistics).

    Knots and values: x_min -> 0.5, mu - 3 sigma -> 1, mu - 2 sigma -> 10, mu -> 11, mu + 2 sigma -> 10,
    mu + 3 sigma -> 1, x_max -> 0.5. An edge knot that falls inside mu +- 3 sigma is dropped (the weight is then
    constant beyond the outermost knot).
    """
    x = np.asarray(x, dtype=float)
    if mean is None and std is None:
        return np.ones_like(x)
    if mean is None or std is None or not (math.isfinite(mean) and math.isfinite(std) and std > 0):
        raise ValueError(f"importance weight needs both a finite mean and a std > 0, got mean={mean}, std={std}")
    knots = [mean + offset * std for offset in IMPORTANCE_KNOT_OFFSETS]
    values = list(IMPORTANCE_KNOT_WEIGHTS)
    x_min, x_max = x_range
    if x_min < knots[0]:
        knots.insert(0, x_min)
        values.insert(0, IMPORTANCE_EDGE_WEIGHT)
    if x_max > knots[-1]:
        knots.append(x_max)
        values.append(IMPORTANCE_EDGE_WEIGHT)
    return np.interp(x, knots, values)


def _relaxed_spike(u: np.ndarray) -> np.ndarray:
    """S(u), the antiderivative of max(0, 1 - |u|) with S(-inf) = 0: a smooth stand-in for H(u)."""
    clipped = np.clip(u, -1.0, 1.0)
    return np.where(clipped < 0, 0.5 * (1.0 + clipped) ** 2, 1.0 - 0.5 * (1.0 - clipped) ** 2)


def loss_and_gradient(thresholds: np.ndarray, resets: np.ndarray, output_weights: np.ndarray, problem: FitProblem,
                      *, relaxed: bool = False) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Loss per restart, weighted MSE per restart, and the surrogate gradient (gT, gh, gd).

    Parameters have shape (R, K): R independent restarts. With `relaxed=True` the spike is S(u) instead of H(u) and
    the gradient is exact (see the module docstring).
    """
    num_restarts, K = thresholds.shape
    num_points = problem.x.shape[0]
    dtype = thresholds.dtype
    # Per step, the forward keeps what the backward needs: z_t, max(0, 1 - |u_t|), sign(u_t) [|u_t| > 1],
    # du_t/dv_t = (1 - u_t sign(v_t)) / (|v_t| + 1) and 1 / (|v_t| + 1).
    spikes, surrogate, excess_sign, du_dv, inv_denominator = (np.empty((K, num_restarts, num_points), dtype)
                                                              for _ in range(5))
    excess_mean = np.empty((K, num_restarts), dtype)
    v = np.broadcast_to(problem.x.astype(dtype), (num_restarts, num_points)).copy()
    y = np.zeros((num_restarts, num_points), dtype)
    for t in range(K):
        np.reciprocal(np.abs(v) + 1.0, out=inv_denominator[t])
        u = (v - thresholds[:, t, None]) * inv_denominator[t]
        abs_u = np.abs(u)
        spikes[t] = _relaxed_spike(u) if relaxed else (u > 0)
        np.maximum(1.0 - abs_u, 0.0, out=surrogate[t])
        excess_mean[t] = np.maximum(abs_u - 1.0, 0.0).mean(axis=-1)
        np.subtract(u > 1.0, u < -1.0, out=excess_sign[t], dtype=dtype)
        np.multiply(1.0 - u * np.sign(v), inv_denominator[t], out=du_dv[t])
        v -= resets[:, t, None] * spikes[t]
        y += output_weights[:, t, None] * spikes[t]
    residual = y - problem.target
    weighted_mse = np.mean(problem.weight * residual**2, axis=-1)
    loss = weighted_mse + problem.c_v * np.sum(excess_mean**2, axis=0)

    g_y = (2.0 / num_points) * problem.weight * residual
    excess_coefficient = (2.0 * problem.c_v / num_points) * excess_mean
    grad_thresholds = np.empty_like(thresholds)
    grad_resets = np.empty_like(resets)
    grad_output_weights = np.empty_like(output_weights)
    grad_v = np.zeros((num_restarts, num_points), dtype)
    for t in reversed(range(K)):
        grad_output_weights[:, t] = np.einsum("rn,rn->r", g_y, spikes[t])
        grad_resets[:, t] = -np.einsum("rn,rn->r", spikes[t], grad_v)
        grad_z = g_y * output_weights[:, t, None] - resets[:, t, None] * grad_v
        grad_u = grad_z * surrogate[t] + excess_coefficient[t, :, None] * excess_sign[t]
        grad_v += grad_u * du_dv[t]
        grad_thresholds[:, t] = -np.einsum("rn,rn->r", grad_u, inv_denominator[t])
    return loss, weighted_mse, (grad_thresholds, grad_resets, grad_output_weights)


def _spike_tensor(x: np.ndarray, thresholds: np.ndarray, resets: np.ndarray) -> np.ndarray:
    """Heaviside spikes z_t(x) as a float (B, K, N) array for B parameter sets (thresholds, resets of shape (B, K))."""
    num_sets, K = thresholds.shape
    v = np.broadcast_to(x, (num_sets, x.size)).copy()
    spikes = np.empty((num_sets, K, x.size))
    for t in range(K):
        np.greater(v, thresholds[:, t, None], out=spikes[:, t])
        v -= resets[:, t, None] * spikes[:, t]
    return spikes


def _solve_spd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with a x = b for a batch of symmetric positive definite a (B, K, K), b (B, K): Cholesky with every sum in
    a fixed order, elementwise over the batch. LAPACK's solve picks blocked kernels by CPU, and its last-bit
    differences would steer the fit elsewhere on another machine."""
    n = a.shape[-1]
    low = np.zeros_like(a)
    for j in range(n):
        d = a[:, j, j].copy()
        for k in range(j):
            d -= low[:, j, k] * low[:, j, k]
        low[:, j, j] = np.sqrt(np.maximum(d, 1e-300))
        for i in range(j + 1, n):
            e = a[:, i, j].copy()
            for k in range(j):
                e -= low[:, i, k] * low[:, j, k]
            low[:, i, j] = e / low[:, j, j]
    y = np.zeros_like(b)
    for i in range(n):
        e = b[:, i].copy()
        for k in range(i):
            e -= low[:, i, k] * y[:, k]
        y[:, i] = e / low[:, i, i]
    x = np.zeros_like(b)
    for i in reversed(range(n)):
        e = y[:, i].copy()
        for k in range(i + 1, n):
            e -= low[:, k, i] * x[:, k]
        x[:, i] = e / low[:, i, i]
    return x


def _optimal_output_weights(spikes: np.ndarray, target: np.ndarray,
                            weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d = argmin mean(w (d Z - y*)^2) per parameter set, and that weighted MSE; spikes Z is (B, K, N).

    Solved by the normal equations with a tiny ridge (a sub-neuron that never fires gets d = 0). The sums use
    `np.einsum` without BLAS, whose threaded reductions would make the fit depend on the thread count.
    """
    sqrt_weight = np.sqrt(weight)
    weighted_spikes = spikes * sqrt_weight
    gram = np.einsum("bkn,bln->bkl", weighted_spikes, weighted_spikes)
    rhs = np.einsum("bkn,n->bk", weighted_spikes, sqrt_weight * target)
    K = gram.shape[-1]
    ridge = 1e-10 * np.trace(gram, axis1=1, axis2=2)[:, None, None] / K + 1e-300
    output_weights = _solve_spd(gram + ridge * np.eye(K), rhs)
    residual = np.einsum("bk,bkn->bn", output_weights, spikes) - target
    return output_weights, np.mean(weight * residual**2, axis=-1)


def _coordinate_search(x: np.ndarray, target: np.ndarray, weight: np.ndarray, thresholds: np.ndarray,
                       resets: np.ndarray, settings: FitSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polish (T, h) of S parameter sets on the exact loss; returns the new (T, h) and weighted MSE per set.

    The exact loss, with d at its least-squares optimum, is piecewise constant in T and h, so the surrogate gradient
    only wanders near a good point. This search tries `polish_candidates` evenly spaced values of one T_t or h_t at a
    time within +- width of the current one, keeps the best if it lowers the loss, and shrinks the width by 0.6 per
    sweep over all 2K parameters.
    """
    num_sets, K = thresholds.shape
    thresholds, resets = thresholds.copy(), resets.copy()
    offsets = np.tile(np.linspace(-1.0, 1.0, settings.polish_candidates), num_sets)
    _, best_mse = _optimal_output_weights(_spike_tensor(x, thresholds, resets), target, weight)
    width = settings.polish_width * (x[-1] - x[0])
    for _ in range(settings.polish_sweeps):
        for params in (thresholds, resets):
            for t in range(K):
                trial_thresholds = np.repeat(thresholds, settings.polish_candidates, axis=0)
                trial_resets = np.repeat(resets, settings.polish_candidates, axis=0)
                trial = trial_thresholds if params is thresholds else trial_resets
                trial[:, t] += width * offsets
                _, mse = _optimal_output_weights(_spike_tensor(x, trial_thresholds, trial_resets), target, weight)
                mse = mse.reshape(num_sets, settings.polish_candidates)
                choice = np.argmin(mse, axis=1)
                chosen_mse = mse[np.arange(num_sets), choice]
                chosen_values = trial[np.arange(num_sets) * settings.polish_candidates + choice, t]
                improved = chosen_mse < best_mse
                params[improved, t] = chosen_values[improved]
                best_mse = np.where(improved, chosen_mse, best_mse)
        width *= 0.6
    return thresholds, resets, best_mse


def _adam(problem: FitProblem, K: int, settings: FitSettings) -> tuple[np.ndarray, np.ndarray]:
    """Adam with successive halving of the restarts; the (T, h) of the best iterate of each survivor.

    Its d is dropped: the polish re-solves d by least squares.
    """
    rng = np.random.default_rng(settings.seed)
    shape = (settings.restarts, K)
    params = [rng.uniform(-1.0, 1.0, shape), rng.uniform(-1.0, 0.0, shape), rng.uniform(-0.5, 1.0, shape)]
    learning_rate = rng.uniform(*settings.learning_rate_range, (settings.restarts, 1))
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8
    first_moments = [np.zeros(shape) for _ in params]
    second_moments = [np.zeros(shape) for _ in params]
    best_thresholds, best_resets = params[0].copy(), params[1].copy()
    best_mse = np.full(settings.restarts, np.inf)
    for step in range(1, settings.steps + 1):
        _, weighted_mse, grads = loss_and_gradient(*params, problem)
        improved = weighted_mse < best_mse
        best_mse = np.where(improved, weighted_mse, best_mse)
        best_thresholds[improved], best_resets[improved] = params[0][improved], params[1][improved]
        for param, grad, first_moment, second_moment in zip(params, grads, first_moments, second_moments):
            first_moment *= beta1
            first_moment += (1 - beta1) * grad
            second_moment *= beta2
            second_moment += (1 - beta2) * grad**2
            param -= learning_rate * (first_moment / (1 - beta1**step)) / (
                np.sqrt(second_moment / (1 - beta2**step)) + epsilon)
        if step % settings.halving_interval == 0 and len(best_mse) > settings.survivors:
            keep = np.sort(np.argsort(best_mse, kind="stable")[: max(settings.survivors, len(best_mse) // 2)])
            params, first_moments, second_moments = (
                [array[keep] for array in arrays] for arrays in (params, first_moments, second_moments))
            learning_rate, best_mse = learning_rate[keep], best_mse[keep]
            best_thresholds, best_resets = best_thresholds[keep], best_resets[keep]
    return best_thresholds, best_resets


def _input_scale(x_range: tuple[float, float]) -> float:
    """Power of two s with max(|lo|, |hi|) / s in (4, 8]: the fit runs on x / s, near the init's scale."""
    magnitude = max(abs(x_range[0]), abs(x_range[1]))
    return 2.0 ** (math.ceil(math.log2(magnitude / 8.0))) if magnitude > 0 else 1.0


def _extended(circuit: FSCircuit, K: int, x_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(T, h) of `circuit` with K - circuit.K steps appended: thresholds spread evenly over x_range, resets 0.

    With d = 0 on the new steps the extended circuit computes the same y, so a least-squares d can only do better.
    """
    added = K - circuit.K
    new_thresholds = np.linspace(*x_range, added + 2)[1:-1]
    return (np.concatenate([circuit.thresholds, new_thresholds]),
            np.concatenate([circuit.resets, np.zeros(added)]))


def fit_circuit(gate: Gate | str, K: int, x_range: tuple[float, float] | None = None, *, mean: float | None = None,
                std: float | None = None, settings: FitSettings = FitSettings(),
                warm_start: FSCircuit | None = None) -> FSCircuit:
    """Fit an FS circuit with K steps to `gate` on `x_range` (default: the gate's), optionally weighted by (mean, std).

    `warm_start`, a circuit with at most K steps (typically the fit for K - 1), joins the Adam survivors as one more
    candidate for the polish, extended by `_extended`; the result's weighted MSE is then no worse than the warm
    start's. Deterministic for given arguments (seeded). The returned circuit carries its max abs error and MSE
    against the gate on `settings.eval_points` uniform points of `x_range` (unweighted).
    """
    gate = get_gate(gate) if isinstance(gate, str) else gate
    if gate.lowering is Lowering.AFFINE:
        raise ValueError(f"gate {gate.name!r} reuses {gate.affine.base!r} by an affine map; fit the base gate instead")
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"fit of {gate.name!r}: K must be an integer >= 1, got {K!r}")
    lo, hi = x_range or gate.default_range
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"fit of {gate.name!r}: x_range must be finite with lo < hi, got {(lo, hi)}")
    scale = _input_scale((lo, hi))
    function: GateFunction = gate.function

    x = np.linspace(lo, hi, settings.grid_points)
    problem = FitProblem(x=x / scale, target=function(x), weight=importance_weight(x, (lo, hi), mean, std),
                         c_v=settings.c_v)
    thresholds, resets = _adam(problem, K, settings)
    if warm_start is not None:
        if warm_start.K > K:
            raise ValueError(f"fit of {gate.name!r}: the warm start has K = {warm_start.K} > {K} steps")
        warm_thresholds, warm_resets = (params[None] / scale for params in _extended(warm_start, K, (lo, hi)))
        thresholds, resets = np.concatenate([thresholds, warm_thresholds]), np.concatenate([resets, warm_resets])

    polish_x = np.linspace(lo, hi, settings.polish_points)
    thresholds, resets, _ = _coordinate_search(polish_x / scale, function(polish_x),
                                               importance_weight(polish_x, (lo, hi), mean, std), thresholds, resets,
                                               settings)
    if warm_start is not None:  # the polish works on fewer points: keep the unpolished warm start in the running
        thresholds, resets = np.concatenate([thresholds, warm_thresholds]), np.concatenate([resets, warm_resets])
    dense_x = np.linspace(lo, hi, settings.eval_points)
    spikes = _spike_tensor(dense_x / scale, thresholds, resets)
    output_weights, weighted_mse = _optimal_output_weights(spikes, function(dense_x),
                                                           importance_weight(dense_x, (lo, hi), mean, std))
    best = int(np.argmin(weighted_mse))
    unmeasured = FSCircuit(gate=gate.name, K=K, x_range=(lo, hi), thresholds=thresholds[best] * scale,
                           resets=resets[best] * scale, output_weights=output_weights[best],
                           max_abs_error=math.nan, mse=math.nan)
    max_abs_error, mse = approximation_error(unmeasured, function, num_points=settings.eval_points)
    return dataclasses.replace(unmeasured, max_abs_error=max_abs_error, mse=mse)
