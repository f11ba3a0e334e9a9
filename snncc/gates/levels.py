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
                                                          period=period)[0]
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
               reach: float | None = None, exact_outside: bool = False, parts: int = 1) -> list[tuple]:
    """[(thresholds, resets, weights, bias_offset)] of `level_circuit`, its variation measured on `grid` points; the
    guard's drop sized for inputs up to `reach` in magnitude (default: x_range's). `exact_outside`: y = 0 for every
    input outside the support, not only for those in x_range: the guard is always there, and where x_range does
    not reach below the support a floor step (T = s_lo, h = 0, d = m_0, e = 0) adds the first level only to inputs
    above s_lo. `parts` > 1: one staircase of that many circuits' levels, dealt out in turn to `parts` circuits of K
    steps whose outputs sum to it (level steps have h = 0, so they do not depend on each other; each circuit has its
    own guard and fold, the first the floor and the offset)."""
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
    if not isinstance(K, int) or K - guard - fold - floor < 1:
        raise ValueError(f"{gate} circuit: K must be an integer >= {1 + guard + fold + floor}, got {K!r}")
    levels = parts * (K - guard - fold) - floor
    if fold and exact_outside:
        # a narrow range around f: the fold's levels would cover all of [s_lo, f]; fold only where that is less
        # variation per level than the range itself
        folded = _variation(function, s_lo, s_lo + period, grid) / (levels + 1)
        fold = folded < _variation(function, a, b, grid) / (levels + parts + 1)
        levels += 0 if fold else parts
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
    steps = list(zip(cuts, np.diff(values)))
    # level j goes to circuit j mod parts; the first circuit, one floor step shorter, is skipped once it is full
    room = [K - guard - fold - floor] + [K - guard - fold] * (parts - 1)
    dealt: list[list] = [[] for _ in range(parts)]
    turn = 0
    for step in steps:
        while len(dealt[turn % parts]) == room[turn % parts]:
            turn += 1
        dealt[turn % parts].append(step)
        turn += 1
    offset = float(values[0])
    result = []
    for part, own in enumerate(dealt):
        thresholds, resets, weights = [t for t, _ in own], [0.0] * len(own), [d for _, d in own]
        e = offset if part == 0 else 0.0
        if fold:
            thresholds, resets, weights = [s_lo + period] + thresholds, [period] + resets, [0.0] + weights
        if floor and part == 0:
            thresholds, resets, weights = [s_lo] + thresholds, [0.0] + resets, [e] + weights
            e = 0.0
        if guard:
            # H pulls the membrane of any input up to 2 * max|x| + |s_hi| below s_lo, under every level threshold
            reach = max(abs(lo), abs(hi)) if reach is None else reach
            drop = 2.0 ** math.ceil(math.log2(2.0 * reach + abs(s_hi) + abs(s_lo) + 1.0))
            thresholds, resets, weights = [s_hi] + thresholds, [drop] + resets, [-e] + weights
        result.append((thresholds, resets, weights, e))
    return result


@dataclass(frozen=True)
class ChannelCircuits:
    """One staircase per channel: `table` float64 (C, 3K + 1), row c = [T(1..K), h(1..K), d(1..K), e] (the
    `channel_circuits` constant of an fs_neuron); the worst channel's max error and the channels' mean MSE, each on
    its own range."""

    table: np.ndarray
    max_abs_error: float
    mse: float


def level_circuits(function: GateFunction, x_range: tuple[float, float], K: int, *, gate: str,
                   support: tuple[float, float], period: float | None = None, parts: int = 1) -> list[FSCircuit]:
    """`level_circuit` with `parts` circuits of K steps whose outputs sum to one staircase of about `parts` times the
    levels (the error falls as 1 / levels); each part's error fields hold the sum's."""
    if parts == 1:
        return [level_circuit(function, x_range, K, gate=gate, support=support, period=period)]
    lo, hi = (float(v) for v in x_range)
    pieces = _staircase(function, x_range, K, gate=gate, support=support, period=period, parts=parts)
    table = np.array([[*t, *h, *d, e] for t, h, d, e in pieces])
    x = np.linspace(lo, hi, 100_001)
    error = sum(_rows_output(table[[i]], x[None], K)[0] for i in range(parts)) - function(x)
    max_abs_error, mse = float(np.abs(error).max()), float(np.mean(error ** 2))
    return [FSCircuit(gate=gate, K=K, x_range=(lo, hi), thresholds=t, resets=h, output_weights=d, bias_offset=e,
                      max_abs_error=max_abs_error, mse=mse) for t, h, d, e in pieces]


def channel_level_circuits(function: GateFunction, channel_min: np.ndarray, channel_max: np.ndarray,
                           shared: list[FSCircuit], *, support: tuple[float, float], period: float | None = None,
                           margin: float = CHANNEL_MARGIN) -> list[ChannelCircuits] | None:
    """The staircase of `level_circuits` cut per channel over the channel's calibrated input range [min, max]
    widened by `margin` of its width on each side (inputs a little past the calibrated ones keep the error), in as
    many parts as `shared` (the layer-wide circuits), with their K and guard drop, and exact zero outside the
    support. A channel whose range does not meet the support, or whose width is below MIN_WIDTH of the layer's,
    keeps `shared`. One table per part; None where every channel's levels are the shared ones.

    A layer's range is the union of its channels': a channel that spans a small part of it gets few of the shared
    levels in its range (a channel on [0.2, 0.5] meets one or two of 16), so its error is large next to its signal,
    and a folded BatchNorm in the next layer can weigh that channel heavily. Cut over its own range, the levels
    give it an error of about its own variation / (2 levels)."""
    lo_layer, hi_layer = shared[0].x_range
    reach = max(abs(lo_layer), abs(hi_layer))
    k, parts = shared[0].K, len(shared)
    s_lo, s_hi = (float(v) for v in support)
    shared_rows = np.array([[*c.thresholds, *c.resets, *c.output_weights, c.bias_offset] for c in shared])
    tables, ranges, own = [], [], []
    for c_lo, c_hi in zip(np.asarray(channel_min, np.float64), np.asarray(channel_max, np.float64)):
        width = max(float(c_hi - c_lo), MIN_WIDTH * (hi_layer - lo_layer))
        lo, hi = float(c_lo) - margin * width, float(c_hi) + margin * width
        rows = None
        if math.isfinite(lo) and math.isfinite(hi) and max(lo, s_lo) < min(hi, s_hi):
            try:
                pieces = _staircase(function, (lo, hi), k, gate=shared[0].gate, support=support, period=period,
                                    grid=_CHANNEL_GRID, reach=max(reach, abs(lo), abs(hi)), exact_outside=True,
                                    parts=parts)
                rows = np.array([[*t, *h, *d, e] for t, h, d, e in pieces])
            except ValueError:      # K too small for a guard, a floor and a fold: the shared circuits serve
                rows = None
        own.append(rows is not None)
        tables.append(shared_rows if rows is None else rows)
        ranges.append((lo_layer, hi_layer) if rows is None else (lo, hi))
    if not any(own):
        return None
    table = np.stack(tables, axis=1).astype(np.float64)            # (parts, C, 3K + 1)
    x = np.linspace(np.asarray(ranges)[:, 0], np.asarray(ranges)[:, 1], _CHANNEL_GRID, axis=1)      # (C, grid)
    error = sum(_rows_output(table[p], x, k) for p in range(parts)) - function(x)
    own = np.asarray(own)
    errors = np.where(own, np.abs(error).max(axis=1), shared[0].max_abs_error)
    mses = np.where(own, (error ** 2).mean(axis=1), shared[0].mse)
    return [ChannelCircuits(table[p], float(errors.max()), float(mses.mean())) for p in range(parts)]


def _rows_output(table: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """Circuit c (row c of `table`, compared with `>`) on inputs x[c] (C, n)."""
    v, y = np.array(x, dtype=np.float64), np.zeros(np.shape(x))
    for t in range(k):
        z = v > table[:, t, None]
        v -= table[:, k + t, None] * z
        y += table[:, 2 * k + t, None] * z
    return y + table[:, 3 * k, None]


