"""Ops of single-spike phase coding (algorithms.md §4) and of the layer-windowed schedule (§0).

- `phase_neuron`: a population that, once per window of K phases, reads its complete pre-activation V and emits
  at most one spike (or, with `multi_spike`, the K-bit floor expansion of V); a spike at phase k carries
  theta * B^-k.
- `delay`: a delay buffer of `steps` steps on an edge of a windowed graph (inserted by `insert-delays` so that the
  operands of a join arrive in the same window); the identity on values.
- `first_spike_pool`: max pooling of a single-spike phase population as "the first spike of the window wins".
- `graph_conv`: one synaptic graph layer y = A x W^T + b on (nodes, features), the fusion of a GCN's feature
  transform and its constant normalised adjacency (made by `canonicalize-gcn`).

The phase quantizer below is the single definition of the neuron's numerics on the IR side; the simulator's kernel
(`backends/simulator/kernels/phase_neuron.py`, which must stay NumPy-only and self-contained) carries the same
few lines, and a test checks that the two agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.ir import numeric
from snncc.ir.node import ConstRef, Node, register_op
from snncc.ir.ops_snn import population_type
from snncc.ir.types import TensorType


def phase_factors(base: float, phases: int, shift: bool, multi_spike: bool) -> tuple[np.ndarray, np.ndarray]:
    """(level factors B^-k, threshold factors) for k = 0..K-1, float32, both to be multiplied by theta.

    Threshold of phase k: no shift: B^-k (truncate to the level below); shift: the midpoint between level k and the
    next level down, (B^-k + B^-(k+1)) / 2, and B^-(K-1) / 2 for the last level (whose next level down is 0), so
    V rounds to the nearest representable value. Multi-spike (B = 2): the thresholds are the levels (floor)."""
    k = np.arange(phases, dtype=np.float64)
    levels = float(base) ** -k
    if shift and not multi_spike:
        below = np.append(levels[1:], 0.0)
        thresholds = (levels + below) / 2
    else:
        thresholds = levels
    return levels.astype(np.float32), thresholds.astype(np.float32)


def phase_frames(v: np.ndarray, theta: np.ndarray, base: float, phases: int, shift: bool,
                 multi_spike: bool) -> tuple[np.ndarray, np.ndarray]:
    """Spike frames (K, *v.shape) float32 in {0, 1} and per-frame weights (K, *theta.shape) of one window.

    Single spike: s_k = [no spike before k] * [V >= thr_k]. Multi-spike: r = V; s_k = [r >= w_k]; r -= s_k w_k.
    The decoded value is `phase_decode(frames, weights, multi_spike)`."""
    v = np.asarray(v, dtype=np.float32)
    theta = np.asarray(theta, dtype=np.float32)
    level_f, thr_f = phase_factors(base, phases, shift, multi_spike)
    weights = np.stack([theta * f for f in level_f]) if phases else np.zeros((0,) + theta.shape, np.float32)
    frames = np.zeros((phases,) + v.shape, dtype=np.float32)
    if multi_spike:
        residual = v.copy()
        for k in range(phases):
            fired = residual >= weights[k]
            frames[k] = fired
            residual = np.where(fired, residual - weights[k], residual)
    else:
        silent = np.ones(v.shape, dtype=bool)
        for k in range(phases):
            fired = silent & (v >= theta * thr_f[k])
            frames[k] = fired
            silent &= ~fired
    return frames, weights


def phase_decode(frames: np.ndarray, weights: np.ndarray, multi_spike: bool = False) -> np.ndarray:
    """The decoded value sum_k w_k s_k (float32). Single spike: at most one term is non-zero, so the sum is exactly
    that level. Multi-spike (w_k = Delta 2^(K-1-k)): the integer level n = sum_k 2^(K-1-k) s_k (exact in float32)
    times Delta, one rounding, so equal levels decode to equal values whatever their bits."""
    out = np.zeros(frames.shape[1:], dtype=np.float32)
    phases = frames.shape[0]
    if multi_spike and phases:
        for k in range(phases):
            out += frames[k] * np.float32(2 ** (phases - 1 - k))
        return out * weights[-1]
    for k in range(phases):
        out += frames[k] * weights[k]
    return out


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseNeuron(Node):
    """Phase-coded neuron population, layer-windowed schedule (Hwang & Kung 2024; Kim et al. 2018).

    Each window it reads the complete pre-activation V integrated over the previous window and, for phases
    k = 0..K-1 (K = `phases`), emits s_k in {0, 1}; a spike at phase k carries w_k = theta * B^-k (B = `base`).

        single spike:  s_k = [V >= theta c_k] and no spike before k   (at most one spike per window)
                       c_k = B^-k (no shift: truncation to the level below)
                       c_k = (B^-k + B^-(k+1)) / 2, c_(K-1) = B^-(K-1) / 2   (`shift`: the nearest level)
        multi_spike:   r = V; s_k = [r >= w_k]; r -= w_k s_k   (B = 2: the K-bit floor expansion)
        value          sum_k w_k s_k = q_{B,K,theta}(V)

    ANN mode evaluates exactly q_{B,K,theta}: 0 below the last threshold, theta above the first (the clip).
    theta is a scalar or per channel (broadcast-ready).
    """

    op = "phase_neuron"
    spiking = True
    theta: ConstRef
    base: float = 2.0
    phases: int = 8
    shift: bool = True
    multi_spike: bool = False

    def window(self) -> int:
        """Steps of this population's emission window (the layer-windowed schedule's K)."""
        return self.phases

    def infer_type(self, input_types, constants):
        if len(input_types) != 1:
            raise ValueError("phase_neuron takes 1 input")
        if self.phases < 1:
            raise ValueError(f"phases={self.phases} must be >= 1")
        if not 1.0 < self.base <= 2.0:
            raise ValueError(f"base={self.base} must be in (1, 2]")
        if self.multi_spike and self.base != 2.0:
            raise ValueError(f"multi-spike phase coding needs base 2, got {self.base}")
        return population_type(input_types[0], constants[self.theta])

    def frames(self, v: np.ndarray, constants) -> tuple[np.ndarray, np.ndarray]:
        """Spike frames (K, batch, ...) and per-frame weights of a batch of pre-activations V."""
        return phase_frames(v, constants[self.theta], self.base, self.phases, self.shift, self.multi_spike)

    def evaluate(self, inputs, constants):
        frames, weights = self.frames(inputs[0], constants)
        return phase_decode(frames, weights, self.multi_spike).astype(inputs[0].dtype, copy=False)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class Delay(Node):
    """y(t) = x(t - steps): a delay buffer on one edge of a windowed graph (`steps` = d windows of K steps), so a
    skip edge that crosses d spiking layers meets the long path in the same window. ANN mode: y = x."""

    op = "delay"
    steps: int

    def infer_type(self, input_types, constants):
        if len(input_types) != 1:
            raise ValueError("delay takes 1 input")
        if self.steps < 1:
            raise ValueError(f"delay of {self.steps} steps; it must be >= 1")
        return input_types[0]

    def evaluate(self, inputs, constants):
        return inputs[0]


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class GraphConv(Node):
    """One graph layer on (nodes, features): y[i, g] = sum_j A[i, j] sum_f W[g, f] x[j, f] + b, with the constant
    (normalised) adjacency A[nodes, nodes], W[out, in] and b broadcast against (nodes, out). A spike of node j,
    feature f reaches every (i, g) with A[i, j] W[g, f] != 0."""

    op = "graph_conv"
    adjacency: ConstRef
    weight: ConstRef
    bias: ConstRef | None = None

    def infer_type(self, input_types, constants):
        if len(input_types) != 1:
            raise ValueError("graph_conv takes 1 input")
        t = input_types[0]
        a, w = constants[self.adjacency], constants[self.weight]
        if len(t.shape) != 2 or a.shape != (t.shape[0], t.shape[0]) or w.ndim != 2 or w.shape[1] != t.shape[1]:
            raise ValueError(f"graph_conv adjacency {a.shape} and weight {w.shape} do not fit input {t}")
        out = (t.shape[0], w.shape[0])
        if self.bias is not None and np.broadcast_shapes(out, constants[self.bias].shape) != out:
            raise ValueError(f"graph_conv bias of shape {list(constants[self.bias].shape)} does not fit its output "
                             f"{list(out)}")
        return TensorType(out, t.dtype)

    def evaluate(self, inputs, constants):
        x = inputs[0]
        y = np.matmul(constants[self.adjacency], np.matmul(x, constants[self.weight].T))
        if self.bias is not None:
            y = y + constants[self.bias]
        return y.astype(x.dtype, copy=False)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class FirstSpikePool(Node):
    """Max pooling of a single-spike population by its first spike: within one window the levels decrease with the
    step k (phase theta B^-k, TTFS Delta (K - k)), so the largest input of a pooling window is the one that fires
    first, and

        y = max over the window of x  =  the first spike of the window, relayed in the same window

    Each output relays at most one spike and adds no window of latency. Exact when the pooled inputs share theta
    and B or K (one channel of one phase or TTFS layer). ANN mode: max pooling. pads = (top, left, bottom, right); padding
    never fires."""

    op = "first_spike_pool"
    spiking = True
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...] = (0, 0, 0, 0)

    def window(self) -> int:
        """Relays spikes in the window they arrive in: no window of its own."""
        return 0

    def infer_type(self, input_types, constants):
        if len(input_types) != 1 or len(input_types[0].shape) != 3:
            raise ValueError(f"first_spike_pool needs one (C, H, W) input, got {[str(t) for t in input_types]}")
        c, h, w = input_types[0].shape
        oh = numeric.conv_output_size(h, self.kernel[0], self.strides[0], self.pads[0], self.pads[2])
        ow = numeric.conv_output_size(w, self.kernel[1], self.strides[1], self.pads[1], self.pads[3])
        if oh <= 0 or ow <= 0:
            raise ValueError(f"first_spike_pool output would be empty ({oh}x{ow})")
        return TensorType((c, oh, ow), input_types[0].dtype)

    def evaluate(self, inputs, constants):
        return numeric.max_pool2d(inputs[0], self.kernel, self.strides, self.pads)
