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
from dataclasses import dataclass

import numpy as np

from snncc.gates.circuit import FSCircuit, approximation_error
from snncc.gates.gate import GateFunction

_GRID = 20_001
_CHANNEL_GRID = 4_001       # per channel: thousands of circuits per model
CHANNEL_MARGIN = 0.25       # a channel's levels cover its calibrated range widened by this share of its width
MIN_WIDTH = 1e-3            # ... and at least this share of the layer's range wide


def level_circuit(function: GateFunction, x_range: tuple[float, float], K: int, *, gate: str,
                  support: tuple[float, float], period: float | None = None) -> FSCircuit:
    """The staircase circuit with K steps for `function`, which is 0 outside `support`, on inputs in `x_range`.

    The levels cover x_range clipped to the support; one of the K steps is the guard when x_range reaches above the
    support. `period` p, when given, says that function(x) = function(x - p) on [s_lo + p, s_hi]; where x_range
    straddles f = s_lo + p, one step folds the inputs above f onto [s_lo, f] (T = f, h = p, d = 0) and the levels
    cover [s_lo, f] only: the same levels serve both halves, at half the variation. The returned x_range is the given
    one, and the errors are measured on all of it (tails included)."""
    thresholds, resets, weights, bias_offset = _staircase(function, x_range, K, gate=gate, support=support,
                                                          period=period)
    lo, hi = (float(v) for v in x_range)
    unmeasured = FSCircuit(gate=gate, K=K, x_range=(lo, hi), thresholds=thresholds, resets=resets,
                           output_weights=weights, bias_offset=bias_offset, max_abs_error=math.nan, mse=math.nan)
    max_abs_error, mse = approximation_error(unmeasured, function)
    return FSCircuit(gate=gate, K=K, x_range=(lo, hi), thresholds=unmeasured.thresholds, resets=unmeasured.resets,
                     output_weights=unmeasured.output_weights, bias_offset=bias_offset, max_abs_error=max_abs_error,
                     mse=mse)


def _variation(function: GateFunction, a: float, b: float, grid: int) -> float:
    return float(np.abs(np.diff(np.asarray(function(np.linspace(a, b, grid)), dtype=float))).sum())


def _staircase(function: GateFunction, x_range: tuple[float, float], K: int, *, gate: str,
               support: tuple[float, float], period: float | None, grid: int = _GRID,
               reach: float | None = None, exact_outside: bool = False) -> tuple:
    """(thresholds, resets, weights, bias_offset) of `level_circuit`, its variation measured on `grid` points; the
    guard's drop sized for inputs up to `reach` in magnitude (default: x_range's). `exact_outside`: y = 0 for every
    input outside the support, not only for those in x_range: the guard is always there, and where x_range does
    not reach below the support a floor step (T = s_lo, h = 0, d = m_0, e = 0) adds the first level only to inputs
    above s_lo."""
    lo, hi = (float(v) for v in x_range)
    s_lo, s_hi = (float(v) for v in support)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{gate} circuit: x_range must be finite with lo < hi, got {x_range}")
    a, b = max(lo, s_lo), min(hi, s_hi)
    if not a < b:
        raise ValueError(f"{gate} circuit: x_range {x_range} does not overlap the support {support}")
    guard = hi > s_hi or exact_outside
    fold = period is not None and a < s_lo + period < b
    # anchored: inputs below the support share the first piece, whose value is then r(s_lo) = 0, not its midpoint,
    # so that piece gets half the variation of the others (the same maximum error)
    anchored = lo < s_lo
    floor = exact_outside and not anchored
    levels = K - guard - fold - floor
    if fold and exact_outside and levels >= 1:
        # a narrow range around f: the fold's levels would cover all of [s_lo, f]; fold only where that is less
        # variation per level than the range itself
        folded = _variation(function, s_lo, s_lo + period, grid) / (levels + 1)
        fold = folded < _variation(function, a, b, grid) / (levels + 2)
        levels += not fold
    if not isinstance(K, int) or levels < 1:
        raise ValueError(f"{gate} circuit: K must be an integer >= {1 + guard + fold + floor}, got {K!r}")
    if fold:
        a, b = s_lo, s_lo + period
    x = np.linspace(a, b, grid)
    y = np.asarray(function(x), dtype=float)
    variation = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(y)))])
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
    if floor:
        thresholds, resets, weights = [s_lo] + thresholds, [0.0] + resets, [values[0]] + weights
        values[0] = 0.0
    if guard:
        # H pulls the membrane of any input up to 2 * max|x| + |s_hi| below s_lo, under every level threshold
        reach = max(abs(lo), abs(hi)) if reach is None else reach
        drop = 2.0 ** math.ceil(math.log2(2.0 * reach + abs(s_hi) + abs(s_lo) + 1.0))
        thresholds, resets, weights = [s_hi] + thresholds, [drop] + resets, [-values[0]] + weights
    return thresholds, resets, weights, float(values[0])


@dataclass(frozen=True)
class ChannelCircuits:
    """One staircase per channel: `table` float64 (C, 3K + 1), row c = [T(1..K), h(1..K), d(1..K), e] (the
    `channel_circuits` constant of an fs_neuron); the worst channel's max error and the channels' mean MSE, each on
    its own range."""

    table: np.ndarray
    max_abs_error: float
    mse: float


def channel_level_circuits(function: GateFunction, channel_min: np.ndarray, channel_max: np.ndarray,
                           shared: FSCircuit, *, support: tuple[float, float], period: float | None = None,
                           margin: float = CHANNEL_MARGIN) -> ChannelCircuits | None:
    """The staircase of `level_circuit` cut per channel over the channel's calibrated input range [min, max] widened
    by `margin` of its width on each side (inputs a little past the calibrated ones keep the error), with the same
    K and guard drop as `shared`, the layer-wide circuit. A channel whose range does not meet the support, or whose
    width is below MIN_WIDTH of the layer's, keeps `shared`. Where every channel's levels are the shared ones, None.

    A layer's range is the union of its channels': a channel that spans a small part of it gets few of the shared
    levels in its range (a channel on [0.2, 0.5] meets one or two of 16), so its error is large next to its signal,
    and a folded BatchNorm in the next layer can weigh that channel heavily. Cut over its own range, the K levels
    give it an error of about its own variation / 2K."""
    lo_layer, hi_layer = shared.x_range
    reach = max(abs(lo_layer), abs(hi_layer))
    k = shared.K
    s_lo, s_hi = (float(v) for v in support)
    shared_row = np.array([*shared.thresholds, *shared.resets, *shared.output_weights, shared.bias_offset])
    rows, ranges = [], []
    for c_lo, c_hi in zip(np.asarray(channel_min, np.float64), np.asarray(channel_max, np.float64)):
        width = max(float(c_hi - c_lo), MIN_WIDTH * (hi_layer - lo_layer))
        lo, hi = float(c_lo) - margin * width, float(c_hi) + margin * width
        if not (math.isfinite(lo) and math.isfinite(hi)) or not max(lo, s_lo) < min(hi, s_hi) or hi - lo <= 0:
            rows.append(shared_row)
            ranges.append((lo_layer, hi_layer))
            continue
        try:
            thresholds, resets, weights, bias = _staircase(function, (lo, hi), k, gate=shared.gate, support=support,
                                                           period=period, grid=_CHANNEL_GRID,
                                                           reach=max(reach, abs(lo), abs(hi)), exact_outside=True)
        except ValueError:      # K too small for a guard and a fold on this channel: the shared circuit serves
            rows.append(shared_row)
            ranges.append((lo_layer, hi_layer))
            continue
        rows.append(np.array([*thresholds, *resets, *weights, bias]))
        ranges.append((lo, hi))
    table = np.stack(rows).astype(np.float64)
    if np.array_equal(table, np.broadcast_to(shared_row, table.shape)):
        return None
    errors, mses = _channel_errors(function, table, k, np.asarray(ranges), shared.ge)
    own = np.array([not np.array_equal(row, shared_row) for row in table])      # the shared ones: its own errors
    errors, mses = np.where(own, errors, shared.max_abs_error), np.where(own, mses, shared.mse)
    return ChannelCircuits(table, float(errors.max()), float(mses.mean()))


def _channel_errors(function: GateFunction, table: np.ndarray, k: int, ranges: np.ndarray,
                    ge: bool) -> tuple[np.ndarray, np.ndarray]:
    """(max abs error, MSE) of each channel's circuit against `function` on a uniform grid of its range."""
    x = np.linspace(ranges[:, 0], ranges[:, 1], _CHANNEL_GRID, axis=1)          # (C, grid)
    v, y = x.copy(), np.zeros_like(x)
    for t in range(k):
        z = (v >= table[:, t, None]) if ge else (v > table[:, t, None])
        v -= table[:, k + t, None] * z
        y += table[:, 2 * k + t, None] * z
    error = y + table[:, 3 * k, None] - function(x)
    return np.abs(error).max(axis=1), (error ** 2).mean(axis=1)
