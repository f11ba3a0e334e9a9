"""`level_circuit`: an FS circuit for a bounded bump (a gate minus its ReLU part), built in closed form.

A gate f that equals ReLU outside a bounded interval (HardSwish: f(x) = relu(x) + r(x) with r = 0 outside (-3, 3))
is lowered as two circuits, the exact ReLU one and one for the rest r (`lower-gates`). r is small and lives on a
fixed interval, so its circuit's error does not grow with the layer's calibrated range the way one fitted circuit's
does. This module builds the circuit for r as a staircase of K thresholds (a thermometer code):

    guard  (only when inputs reach above the support [s_lo, s_hi]):  T = s_hi, h = H, d = 0
    fold   (only for a periodic rest, see `period`):                  T = s_lo + p, h = p, d = 0
    levels t = 1..n:   T(t) = b_t (increasing),  h(t) = 0,  d(t) = m_t - m_{t-1}
    bias_offset e = m_0

Without the guard, y = m_j on (b_j, b_{j+1}]: n + 1 constant pieces of [lo, hi] split so that each holds the same
share of r's total variation, each valued at the midpoint of r's extremes on it (its minimax constant), so the
maximum error is half the largest piece's spread, about TV / (2 (n + 1)). HardSwish's rest is periodic on its
support (r(x) = r(x - 3) on [0, 3]), so the fold step lets the levels cover [-3, 0] only: 0.026 at K = 16 instead of
0.048. The guard spikes for x > s_hi and pulls
the membrane down by H, below every level threshold, so there y = 0 = r(x) exactly with one spike; below s_lo no
level fires and y = m_0, which is then 0 (r(s_lo) = 0: the first piece holds half a share of the variation), so
inputs far below the support get no offset either. Every sub-neuron is evaluated once, so it spikes at most once,
as every FS circuit does.
"""

from __future__ import annotations

import math

import numpy as np

from snncc.gates.circuit import FSCircuit, approximation_error
from snncc.gates.gate import GateFunction

_GRID = 20_001


def level_circuit(function: GateFunction, x_range: tuple[float, float], K: int, *, gate: str,
                  support: tuple[float, float], period: float | None = None) -> FSCircuit:
    """The staircase circuit with K steps for `function`, which is 0 outside `support`, on inputs in `x_range`.

    The levels cover x_range clipped to the support; one of the K steps is the guard when x_range reaches above the
    support. `period` p, when given, says that function(x) = function(x - p) on [s_lo + p, s_hi]; where x_range
    straddles f = s_lo + p, one step folds the inputs above f onto [s_lo, f] (T = f, h = p, d = 0) and the levels
    cover [s_lo, f] only: the same levels serve both halves, at half the variation. The returned x_range is the given
    one, and the errors are measured on all of it (tails included)."""
    lo, hi = (float(v) for v in x_range)
    s_lo, s_hi = (float(v) for v in support)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{gate} circuit: x_range must be finite with lo < hi, got {x_range}")
    a, b = max(lo, s_lo), min(hi, s_hi)
    if not a < b:
        raise ValueError(f"{gate} circuit: x_range {x_range} does not overlap the support {support}")
    guard = hi > s_hi
    fold = period is not None and a < s_lo + period < b
    levels = K - guard - fold
    if not isinstance(K, int) or levels < 1:
        raise ValueError(f"{gate} circuit: K must be an integer >= {1 + guard + fold}, got {K!r}")
    if fold:
        a, b = s_lo, s_lo + period
    x = np.linspace(a, b, _GRID)
    y = np.asarray(function(x), dtype=float)
    variation = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(y)))])
    # anchored: inputs below the support share the first piece, whose value is then r(s_lo) = 0, not its midpoint,
    # so that piece gets half the variation of the others (the same maximum error)
    anchored = lo < s_lo
    shares = np.arange(1, levels + 1) - 0.5 * anchored
    if variation[-1] > 0:
        cuts = np.interp(shares / (levels + 1 - 0.5 * anchored) * variation[-1], variation, x)
    else:
        cuts = np.linspace(a, b, levels + 2)[1:-1]
    piece = np.searchsorted(cuts, x, side="left")     # x in (cuts[j-1], cuts[j]] -> piece j: j thresholds passed
    values = np.empty(levels + 1)
    for j in range(levels + 1):
        on = y[piece == j]
        values[j] = 0.5 * (on.max() + on.min()) if on.size else (values[j - 1] if j else 0.0)
    if anchored:
        values[0] = 0.0
    thresholds, resets, weights = list(cuts), [0.0] * levels, list(np.diff(values))
    if fold:
        thresholds, resets, weights = [s_lo + period] + thresholds, [period] + resets, [0.0] + weights
    if guard:
        # H pulls the membrane of any input up to 2 * max|x| + |s_hi| below s_lo, under every level threshold
        drop = 2.0 ** math.ceil(math.log2(2.0 * max(abs(lo), abs(hi)) + abs(s_hi) + abs(s_lo) + 1.0))
        thresholds, resets, weights = [s_hi] + thresholds, [drop] + resets, [-values[0]] + weights
    unmeasured = FSCircuit(gate=gate, K=K, x_range=(lo, hi), thresholds=thresholds, resets=resets,
                           output_weights=weights, bias_offset=values[0], max_abs_error=math.nan, mse=math.nan)
    max_abs_error, mse = approximation_error(unmeasured, function)
    return FSCircuit(gate=gate, K=K, x_range=(lo, hi), thresholds=unmeasured.thresholds, resets=unmeasured.resets,
                     output_weights=unmeasured.output_weights, bias_offset=values[0], max_abs_error=max_abs_error,
                     mse=mse)
