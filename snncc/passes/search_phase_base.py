"""search-phase-base: base manipulation, i.e. choose each phase layer's base B < 2 from calibration data
(algorithms.md §4.3)."""

from __future__ import annotations

import numpy as np

from snncc.errors import DataError, OptionError
from snncc.ir import PhaseNeuron, run
from snncc.ir.ops_phase import phase_decode, phase_frames
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit

MAX_VALUES = 1 << 20   # pre-activation values per layer the error is measured on (a deterministic subsample)


def base_grid() -> list[float]:
    """Candidate bases: 2^(1/m) for m = 1..4 and 1.10, 1.15, ..., 2.00 (sorted, rounded to 1e-6)."""
    grid = {round(2 ** (1 / m), 6) for m in range(1, 5)} | {round(1.1 + 0.05 * i, 6) for i in range(19)}
    return sorted(grid)


THETA_SCALES = (0.7, 0.85, 1.0, 1.2, 1.5)   # theta multipliers tried with `theta=search`


def encoding_error(v: np.ndarray, theta: np.ndarray, base: float, phases: int, shift: bool,
                   clip: bool = True) -> float:
    """Mean squared error between the phase code q_{B,K,theta}(V) and the activation: clip(V, 0, theta)
    (`clip`, the balanced ANN's) or relu(V) (the original ANN's, which counts the clipping error too)."""
    q = phase_decode(*phase_frames(v, theta, base, phases, shift, False))
    target = np.minimum(np.maximum(v, 0), theta) if clip else np.maximum(v, 0)
    return float(np.mean((q.astype(np.float64) - target) ** 2))


def _subsample(v: np.ndarray) -> np.ndarray:
    """At most MAX_VALUES values of a batch, taking whole samples (theta broadcasts per sample)."""
    per_sample = max(int(np.prod(v.shape[1:])), 1)
    keep = max(1, MAX_VALUES // per_sample)
    return v[:keep]


@register_pass("search-phase-base")
def search_phase_base(graph, ctx, grid: str = "default", theta: str = "keep") -> PassResult:
    """Choose each phase layer's base B (and optionally rescale theta) to minimise its quantization error.

    For every single-spike phase_neuron, in topological order, pick

        B_l = argmin_{B in grid} mean over calibration of (q_{B,K,theta_l}(V_l) - clip(V_l, 0, theta_l))^2

    under the layer's K budget, where V_l is the layer's pre-activation computed with the bases already chosen for
    the layers before it (so each choice sees the quantization error it inherits). grid: `default` (2^(1/m),
    m = 1..4, and 1.10..2.00 in steps of 0.05) or a `/`-separated list such as `1.2/1.5/2`. Multi-spike layers
    keep B = 2. The per-layer errors go to ctx.stats["phase_base"].

    theta=search: also rescale theta_l by s in THETA_SCALES, minimising the error against relu(V_l) (which then
    counts the clipping error as well): (B_l, s_l) = argmin mean (q_{B,K,s theta_l}(V_l) - relu(V_l))^2."""
    if theta not in ("keep", "search"):
        raise OptionError(f"search-phase-base theta={theta!r}: use 'keep' or 'search'")
    scales = THETA_SCALES if theta == "search" else (1.0,)
    if grid == "default":
        candidates = base_grid()
    else:
        try:
            candidates = sorted({float(b) for b in str(grid).split("/")})
        except ValueError:
            raise OptionError(f"search-phase-base grid {grid!r} must be `default` or numbers separated by '/'") \
                from None
        if not candidates or any(not 1.0 < b <= 2.0 for b in candidates):
            raise OptionError(f"search-phase-base grid {grid!r}: every base must be in (1, 2]")
    targets = [n for n in graph.nodes if isinstance(n, PhaseNeuron) and not n.multi_spike]
    if not targets:
        return PassResult(graph, False)
    if ctx.calibration is None:
        raise DataError("base manipulation needs calibration data (--calib FILE.npz); or fix the base with --base B")
    data = np.asarray(ctx.calibration, dtype=np.float32)
    report = {}
    current = graph
    modified = False
    for node in targets:
        v = run(current, data, keep=[node.inputs[0]])[node.inputs[0]]
        v = _subsample(v)
        base_theta = current.constants[node.theta]
        clip = theta == "keep"
        errors = {(b, scale): encoding_error(v, base_theta * np.float32(scale), b, node.phases, node.shift, clip)
                  for scale in scales for b in candidates}
        # ties: theta unchanged first, then the larger base (wider range)
        best_b, best_s = min(errors, key=lambda key: (errors[key], abs(key[1] - 1.0), -key[0]))
        report[node.name] = {"base": best_b, "theta_scale": best_s, "error": errors[(best_b, best_s)],
                             "error_base2": encoding_error(v, base_theta, 2.0, node.phases, node.shift, clip)}
        if best_b != node.base or best_s != 1.0:
            edit = GraphEdit(current)
            changes = {"base": float(best_b)}
            if best_s != 1.0:
                changes["theta"] = edit.constant(f"{node.name}.theta", base_theta * np.float32(best_s),
                                                 replacing=node.theta)
            edit.replace(current.node(node.name).replace(**changes))
            current = edit.apply()
            modified = True
    ctx.stats["phase_base"] = report
    return PassResult(current, modified)
