"""Which input magnitudes a compiled graph simulates without overflowing float32: an interval bound of |value|
propagated from the data's largest |x| through every node, in float64.

For a value bound B_in of a node's inputs (the largest |x| any of its inputs reaches in one step):

    dense       max_o sum_i |W[o, i]| B_in + max |b|            (conv: the sum over (c, i, j) of W[o]; graph_conv:
                                                                 max_i sum_j |A[i, j]| times the dense bound)
    add         sum_i |c_i| B_i;   mul  B_a B_b;   affine / batch_norm  max |scale| B_in + max |shift|
    pooling, reshapes, concat, delay, first-spike pool   B_in;   floor  B_in + 1
    relu, silu, gelu, hard_swish  B_in;   leaky_relu  max(1, |alpha|) B_in;   sigmoid, tanh, hard_sigmoid  1
    clip  min(max(|lo|, |hi|), max(B_in, finite |lo|, |hi|));   bounded_relu, qcfs  min(B_in, max theta)

A spiking population's emitted value does not depend on its input (a spike carries its fixed weight); what the
input drives is its membrane. On the concurrent schedule (rate, signed) a membrane integrates T steps of current,
reset by at most theta a step: |v| <= |v0| theta + T (B_in + theta), and the decoder sums each output over T steps
(T B_out). On the layer-windowed schedule (phase, bits, TTFS, AMOS) a window reads the pre-activation once, so a
membrane stays within B_in plus the levels it subtracts. The graph is refused when any of these bounds exceeds
float32's largest value (less a margin for float32 rounding); every bound is monotone in max |x|, so the largest
safe input is found by bisection. Ops this module does not know (plugins) get a coarse bound from their constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from snncc.ir import Graph

FLOAT32_MAX = float(np.finfo(np.float32).max)
LIMIT = FLOAT32_MAX / (1 + 2.0 ** -8)   # float32 sums round: keep a margin below the largest float32


@dataclass(frozen=True)
class Overflow:
    """The first bound over LIMIT: node `name` (`op`), `where` ("value", "membrane", "output sum"), `bound`."""

    name: str
    op: str
    where: str
    bound: float


# a node's rule: input bounds -> (bound of its value in one step, bound of its membrane / internal state)
Rule = Callable[[list[float]], tuple[float, float]]


def _times(a: float, b: float) -> float:
    return 0.0 if a == 0 or b == 0 else a * b   # 0 x inf: nothing flows


def _max_abs(array) -> float:
    a = np.asarray(array, dtype=np.float64)
    return float(np.max(np.abs(a))) if a.size else 0.0


def _row_sums(matrix: np.ndarray) -> float:
    """max_o sum_i |M[o, ...]| over the first axis."""
    m = np.abs(np.asarray(matrix, dtype=np.float64))
    return float(m.reshape(m.shape[0], -1).sum(axis=1).max()) if m.size else 0.0


def _spike_value(node, constants) -> float:
    scale = getattr(node, "out_scale", None)
    return _max_abs(constants[scale]) if scale is not None else 1.0


def _rule(node, constants, timesteps: int) -> Rule:
    op = node.op
    c = lambda ref: constants[ref] if ref is not None else None   # noqa: E731
    if op in ("dense", "conv", "graph_conv"):
        norm = _row_sums(c(node.weight))
        if op == "graph_conv":
            norm = _times(norm, _row_sums(c(node.adjacency)))
        bias = _max_abs(c(node.bias)) if node.bias is not None else 0.0
        return lambda b: (_times(norm, b[0]) + bias, 0.0)
    if op == "add":
        coeffs = [abs(float(k)) for k in node.coeffs]
        return lambda b: (sum(_times(k, x) for k, x in zip(coeffs, b)), 0.0)
    if op == "mul":
        return lambda b: (_times(b[0], b[1]), 0.0)
    if op == "affine":
        scale = _max_abs(c(node.scale)) if node.scale is not None else 1.0
        shift = _max_abs(c(node.shift)) if node.shift is not None else 0.0
        return lambda b: (_times(scale, b[0]) + shift, 0.0)
    if op == "batch_norm":
        with np.errstate(all="ignore"):
            k, shift = node.scale_shift(constants)
        scale, offset = _max_abs(k), _max_abs(shift)
        return lambda b: (_times(scale, b[0]) + offset, 0.0)
    if op in ("avg_pool", "global_avg_pool", "max_pool", "first_spike_pool", "flatten", "reshape", "transpose",
              "delay", "concat", "relu", "silu", "gelu", "hard_swish"):
        return lambda b: (max(b), 0.0)
    if op == "floor":
        return lambda b: (b[0] + 1.0, 0.0)
    if op == "leaky_relu":
        alpha = max(1.0, abs(float(node.alpha)))
        return lambda b: (_times(alpha, b[0]), 0.0)
    if op in ("sigmoid", "tanh", "hard_sigmoid"):
        return lambda b: (1.0, 0.0)
    if op == "clip":
        ends = [abs(float(e)) for e in (node.lo, node.hi) if math.isfinite(float(e))]
        cap = max(ends) if len(ends) == 2 else math.inf
        return lambda b: (min(cap, max([b[0], *ends])), 0.0)
    if op in ("bounded_relu", "qcfs"):
        theta = _max_abs(c(node.theta))
        return lambda b: (min(b[0], theta) if op == "bounded_relu" else theta, 0.0)
    if op in ("if_neuron", "signed_neuron"):
        theta = _max_abs(c(node.theta))
        start = abs(float(node.v0)) * theta
        out = _spike_value(node, constants)
        return lambda b: (out, start + timesteps * (b[0] + theta))
    if op == "phase_neuron":
        theta = _max_abs(c(node.theta))
        levels = sum(float(node.base) ** -k for k in range(int(node.phases)))
        # multi-spike decoding sums the integer level 2^(K-1-k) s_k in float32 before scaling it
        internal = 2.0 ** int(node.phases) if node.multi_spike else 0.0
        return lambda b: (theta * levels, max(b[0] + theta * levels, internal))
    if op in ("bits_neuron", "ttfs_neuron"):
        theta = _max_abs(c(node.theta))
        return lambda b: (theta, b[0] + 2 * theta)
    if op == "fs_neuron":
        out = sum(abs(float(w)) for w in node.weights) + abs(float(node.bias_offset))
        drop = sum(abs(float(r)) for r in node.resets) + max((abs(float(t)) for t in node.thresholds), default=0.0)
        if node.channel_circuits is not None:      # each channel its own circuit: the largest over the channels
            thresholds, resets, weights, bias = (np.abs(np.asarray(v, np.float64)) for v in node.parameters(constants))
            k = int(node.steps)
            out = float((weights.reshape(k, -1).sum(axis=0) + bias.reshape(-1)).max())
            drop = float((resets.reshape(k, -1).sum(axis=0) + thresholds.reshape(k, -1).max(axis=0)).max())
        return lambda b: (out, b[0] + drop)
    if op == "gate":
        return _gate_rule(node)
    return _coarse_rule(node, constants, timesteps)


def _gate_rule(node) -> Rule:
    """A registered gate f: |f| sampled over [-B, B] (the built-in gates are monotone or |f(x)| <= |x|)."""
    from snncc.gates import get_gate

    function = get_gate(node.gate).function

    def rule(b: list[float]) -> tuple[float, float]:
        if not math.isfinite(b[0]):
            return math.inf, 0.0
        grid = np.linspace(-b[0], b[0], 65)
        with np.errstate(all="ignore"):
            y = np.abs(np.asarray(function(grid), dtype=np.float64))
        top = float(np.max(y)) if y.size else 0.0
        return (max(b[0], 1.0, top) if math.isfinite(top) else math.inf), 0.0
    return rule


def _coarse_rule(node, constants, timesteps: int) -> Rule:
    """An op of a plugin: its largest constant or float attribute m scales: B_out <= m (B_in + 1)."""
    scale = 1.0
    for ref in node.const_refs():
        scale = max(scale, _max_abs(constants[ref]))
    for value in vars(node).values() if hasattr(node, "__dict__") else ():
        if isinstance(value, float) and math.isfinite(value):
            scale = max(scale, abs(value))
    steps = timesteps if getattr(node, "spiking", False) else 0
    return lambda b: (_times(scale, max(b, default=0.0) + 1.0), _times(steps, max(b, default=0.0) + scale))


@dataclass(frozen=True)
class RangeCheck:
    """The rules of a graph for T steps, reusable for many input bounds (the bisection)."""

    graph: Graph
    timesteps: int
    rules: tuple[Rule, ...]

    def first_overflow(self, input_bound: float) -> Overflow | None:
        """The first node (in order) whose value, membrane or output sum could exceed float32 for |x| <= bound."""
        graph, windowed = self.graph, self.graph.meta.get("schedule") == "windowed"
        bounds: dict[str, float] = {}
        for node, rule in zip(graph.nodes, self.rules):
            if node.op == "input":
                value, internal = input_bound, 0.0
            else:
                value, internal = rule([bounds[s] for s in node.inputs])
            bounds[node.name] = value
            if not internal <= LIMIT:
                return Overflow(node.name, node.op, "membrane", internal)
            if not value <= LIMIT:
                return Overflow(node.name, node.op, "value", value)
            if not windowed and node.name in graph.outputs and not _times(self.timesteps, value) <= LIMIT:
                return Overflow(node.name, node.op, "output sum", _times(self.timesteps, value))
        return None

    def safe_input_bound(self) -> float:
        """The largest max |x| (a float64) with no overflow; 0.0 when even x = 0 overflows, LIMIT at most."""
        if self.first_overflow(0.0) is not None:
            return 0.0
        if self.first_overflow(LIMIT) is None:
            return LIMIT
        lo, hi = 0, int(np.float64(LIMIT).view(np.int64))   # bisect on the bit patterns: 64 steps, exact
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.first_overflow(float(np.int64(mid).view(np.float64))) is None:
                lo = mid
            else:
                hi = mid
        return float(np.int64(lo).view(np.float64))


def range_check(graph: Graph, timesteps: int) -> RangeCheck:
    rules = tuple((lambda b: (0.0, 0.0)) if n.op == "input" else _rule(n, graph.constants, timesteps)
                  for n in graph.nodes)
    return RangeCheck(graph, timesteps, rules)


def round_down(value: float) -> str:
    """`value` in 3 significant digits, never above it."""
    for digits in (3, 4, 6, 17):
        text = f"{value:.{digits - 1}e}" if value else "0"
        if float(text) <= value:
            return f"{float(text):.{digits}g}"
    return repr(value)


def max_abs_rows(x: np.ndarray, chunk: int = 4096) -> float:
    """max |x| without a full-size temporary (the data can be most of the memory cap)."""
    top = 0.0
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        if part.size:
            top = max(top, float(np.max(np.abs(part))))
    return top
