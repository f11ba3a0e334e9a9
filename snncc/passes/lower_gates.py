"""lower-gates: every gate becomes a population of FS / AMOS circuits (`--coding amos`, algorithms.md §2).

A gate y = f(x) (ReLU, Clip, LeakyRelu, sigmoid, HardSigmoid, tanh, SiLU, HardSwish, GELU, or any gate a user
registers with `snncc.gates.register_gate`) becomes `fs_neuron`: K sub-neurons with thresholds T(t), resets h(t) and
output weights d(t), each spiking at most once, on the layer-windowed schedule. Spike t reaches the next layer with
weight W * d(t). How the circuit is obtained (`snncc.gates.get_circuit`):

- ReLU / Clip(0, c): the closed form T = h = d = alpha 2^-t, compared with `>=`: the exact K-bit floor quantizer.
  alpha = c (data-free) or the calibrated threshold of `balance-thresholds`, rounded up to 24 - K significant bits
  so that every level n alpha 2^-K is a float32 and differences of levels stay on the grid (this makes the MaxPool
  tree of `maxpool-to-relu-tree` exact). Clip(lo, hi) is the affine reuse lo + relu_(hi-lo)(x - lo).
- any other gate: the shipped pre-fitted table when the calibrated input range [min, max] of the gate lies inside a
  tabled range (or a wider one where the tabled circuit keeps its error), else a deterministic refit by surrogate
  gradients, importance-weighted around mean +- 2 std, cached by (gate, K, range, ...) in-process and on disk
  (`snncc.gates.cache`, ~/.cache/snncc/gates; SNNCC_GATE_CACHE=off disables it) so a gate is fitted once per
  machine. A progress bar counts the gates while they are fitted (on a terminal).
- a gate that is ReLU outside a bounded interval (`Gate.rest_support`: HardSwish, f = relu + r with r = 0 outside
  (-3, 3)) becomes two populations on the same input, the exact ReLU circuit and a staircase for r
  (`snncc.gates.levels`), summed by an `add` for the consumers: the error is r's (0.026 at K = 16) whatever the
  calibrated range, where one circuit fitted on [-41, 29] erred by 0.38.
- tanh reuses the sigmoid circuit (tanh(x) = 2 sigmoid(2x) - 1, bit-exact); HardSigmoid clip(alpha x + beta, 0, 1)
  is the closed form alpha relu_(1/alpha)(x + beta/alpha), exact like Clip.

A product of two activations (squeeze-excitation x * sigmoid(s)) stays a non-spiking `mul`; the pass lists such
nodes in the graph header (`amos_non_spiking`) and in the compile log.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from snncc.errors import OptionError
from snncc.gates import FitSettings, FSCircuit, UnknownGateError, affine_circuit, get_circuit, get_gate, relu_circuit
from snncc.gates.levels import ChannelCircuits, channel_level_circuits, level_circuits
from snncc.ir import Add, Affine, ConstRef, FSNeuron, Gelu, Graph, run
from snncc.ir.ops_ann import _Elementwise
from snncc.passes.manager import RewriteError
from snncc.passes.preconditions import Blocker, register_precondition
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit

# IR op -> registered gate name (ops whose gate depends on attributes are handled in `_circuit_for`)
OP_GATES = {"sigmoid": "sigmoid", "tanh": "tanh", "silu": "silu", "gelu": "gelu", "hard_swish": "hardswish"}
RELU_OPS = ("relu", "bounded_relu", "qcfs")
# the ReLU part of a split gate is linear up to alpha: inputs above the calibrated maximum (a test page brighter than
# the calibration pages) would saturate it, so alpha gets one bit of headroom (its error alpha 2^-K doubles)
SPLIT_RELU_HEADROOM = 2.0
MAX_K = 23          # the ReLU grid n alpha 2^-K must fit float32's 24-bit significand
MAX_REST = 8
# `fit=quick`: a cheaper refit for gates outside the shipped table (user gates in tests and experiments)
FIT_PRESETS = {"default": FitSettings(),
               "quick": FitSettings(restarts=8, steps=300, halving_interval=100, survivors=2, polish_sweeps=3)}
HOW_TO_REGISTER = ("register its gate with snncc.gates.register_gate(Gate(name=..., function=..., default_K=..., "
                   "default_range=(lo, hi), lowering=Lowering.FITTED)) and emit it as snncc.ir.GateOp(gate=name) "
                   "from an ONNX converter (see docs/amos.md, 'Registering a new gate')")


def check_k(k, what: str = "K (-K/--phases)") -> int | None:
    """K as an int in 1..MAX_K, None for the per-gate defaults; OptionError otherwise."""
    if k is None or (isinstance(k, str) and k.strip().lower() in ("", "none", "default")):
        return None
    try:
        value = int(k)
    except (TypeError, ValueError):
        raise OptionError(f"amos: {what} must be an integer between 1 and {MAX_K}, got {k!r}") from None
    if value != k and str(value) != str(k).strip() or not 1 <= value <= MAX_K:
        raise OptionError(f"amos: {what} must be an integer between 1 and {MAX_K}, got {k!r}")
    return value


def check_rest(rest) -> int:
    """The number of rest populations as an int in 1..MAX_REST; OptionError otherwise."""
    try:
        value = int(rest)
    except (TypeError, ValueError):
        value = 0
    if str(value) != str(rest).strip() or not 1 <= value <= MAX_REST:
        raise OptionError(f"amos: rest (rest populations per HardSwish) must be an integer between 1 and {MAX_REST}, "
                          f"got {rest!r}")
    return value


def grid_alpha(alpha: float, k: int) -> float:
    """alpha rounded up to max(1, 24 - k) significant bits: the levels n alpha 2^-k (n < 2^k) are then exact
    float32 numbers, and so are their differences (relative change below 2^(k - 24))."""
    mantissa, exponent = math.frexp(float(alpha))
    bits = max(1, 24 - k)
    return math.ldexp(math.ceil(math.ldexp(mantissa, bits)), exponent - bits)


def _scalar_theta(graph: Graph, node) -> float:
    theta = np.asarray(graph.constants[node.theta], dtype=np.float64)
    return float(theta.max()) if theta.size else 0.0


def input_stats(graph: Graph, calibration: np.ndarray | None, names: list[str],
                batch_size: int = 256) -> dict[str, tuple[float, float, float, float]]:
    """(min, max, mean, std) of the input of each node in `names`, from the calibration data in ANN mode (for gate
    ops that `calibrate` does not know, e.g. user gates)."""
    if not names or calibration is None:
        return {}
    readers = {}
    for name in names:
        readers.setdefault(graph.node(name).inputs[0], []).append(name)
    acc = {src: [math.inf, -math.inf, 0.0, 0.0, 0] for src in readers}

    def observe(value_name: str, value: np.ndarray) -> None:
        if value_name in acc:
            a, z = acc[value_name], value.astype(np.float64)
            a[0], a[1] = min(a[0], float(z.min(initial=np.inf))), max(a[1], float(z.max(initial=-np.inf)))
            a[2] += float(z.sum())
            a[3] += float((z * z).sum())
            a[4] += z.size

    data = np.asarray(calibration, dtype=np.float32)
    for start in range(0, len(data), batch_size):
        run(graph, data[start:start + batch_size], observe=observe)
    result = {}
    for src, (lo, hi, total, squares, count) in acc.items():
        mean = total / max(count, 1)
        std = math.sqrt(max(squares / max(count, 1) - mean * mean, 0.0))
        for name in readers[src]:
            result[name] = (lo, hi, mean, std)
    return result


def _fit_range(lo: float, hi: float, mean: float, std: float) -> tuple[tuple[float, float], float | None,
                                                                        float | None]:
    """A usable fit range and importance (mean, std) from calibrated input statistics: a dead or constant input
    gets a unit-wide range around it; mean/std are dropped when the spread is zero."""
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    if not (std > 0 and math.isfinite(mean) and math.isfinite(std)):
        return (lo, hi), None, None
    # 6 significant digits: statistics summed over the calibration set differ in their last bits between CPUs
    # (BLAS kernels, SIMD reductions), and the fit must not
    return (lo, hi), float(f"{mean:.6g}"), float(f"{std:.6g}")


class _Lowering:
    """The per-node choice of circuit, with the calibration statistics it draws on."""

    def __init__(self, graph: Graph, ctx, k: int | None, importance: bool, fit: FitSettings, rest: int = 1) -> None:
        self.graph, self.ctx, self.k, self.importance, self.fit, self.rest = graph, ctx, k, importance, fit, rest
        self.stats = dict(ctx.stats.get("activations") or {})
        self.extra: dict[str, tuple[float, float, float, float]] = {}
        self.channels: dict[str, list[ChannelCircuits]] = {}    # gate node -> its rest circuits cut per channel

    def prepare(self, nodes: list) -> None:
        """Input statistics for gate nodes that `calibrate` did not cover."""
        for node in nodes:
            if node.op == "gate":
                try:
                    get_gate(node.gate)
                except UnknownGateError:
                    raise RewriteError(node.name, f"no FS lowering for gate {node.gate!r} (it is not registered); "
                                                  + HOW_TO_REGISTER) from None
        missing = [n.name for n in nodes if not self._has_input_stats(n.name)]
        if missing and self.ctx.calibration is not None:
            self.extra = input_stats(self.graph, self.ctx.calibration, missing)

    def _has_input_stats(self, name: str) -> bool:
        # `calibrate` records input statistics for one reader per value; other readers need their own pass
        s = self.stats.get(name)
        return s is not None and math.isfinite(s.input_min) and math.isfinite(s.input_max)

    def K(self, gate_name: str) -> int:
        return self.k if self.k is not None else get_gate(gate_name).default_K

    def input_range(self, node) -> tuple[tuple[float, float], float | None, float | None]:
        if self._has_input_stats(node.name):
            s = self.stats[node.name]
            lo, hi, mean, std = s.input_min, s.input_max, s.input_mean, s.input_std
        elif node.name in self.extra:
            lo, hi, mean, std = self.extra[node.name]
        else:
            raise RewriteError(node.name, f"{node.op} needs the range of its input to fit a circuit; run calibrate "
                                          "before lower-gates (calibration data: --calib FILE.npz)")
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise RewriteError(node.name, f"{node.op}: the calibrated input range [{lo}, {hi}] is not finite; check "
                                          "the calibration data")
        (lo, hi), mean, std = _fit_range(lo, hi, mean, std)
        return (lo, hi), (mean if self.importance else None), (std if self.importance else None)

    def relu(self, node, alpha: float) -> FSCircuit:
        if not (math.isfinite(alpha) and alpha > 0):
            raise RewriteError(node.name, f"{node.op}: the ReLU circuit needs a positive alpha (clip bound or "
                                          f"calibrated maximum), got {alpha}")
        k = self.K("relu")
        return relu_circuit(grid_alpha(alpha, k), k, gate="relu")

    def fitted(self, node, gate_name: str) -> FSCircuit:
        x_range, mean, std = self.input_range(node)
        try:
            return get_circuit(gate_name, self.K(gate_name), x_range, mean, std, fit_settings=self.fit)
        except UnknownGateError:
            raise RewriteError(node.name, f"no FS lowering for gate {gate_name!r} ({node.op}); "
                                          + HOW_TO_REGISTER) from None
        except ValueError as exc:
            raise RewriteError(node.name, f"cannot build the {gate_name} circuit: {exc}") from None

    def circuit(self, node) -> FSCircuit | None:
        """The circuit for a gate node, None for a node that is not a gate."""
        op = node.op
        if op in ("bounded_relu", "qcfs"):
            if op == "qcfs":
                self.ctx.log.append(f"lower-gates: %{node.name} (qcfs, L={node.levels}) becomes a K-bit floor "
                                    "ReLU circuit on [0, theta); the QCFS rounding is not reproduced (use --coding "
                                    "bits for that)")
            return self.relu(node, _scalar_theta(self.graph, node))
        if op == "relu":
            stats = self.stats.get(node.name)
            if stats is None:
                raise RewriteError(node.name, "relu has no alpha yet; run calibrate and balance-thresholds before "
                                              "lower-gates")
            return self.relu(node, stats.max)
        if op == "clip":
            lo, hi = float(node.lo), float(node.hi)
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                raise RewriteError(node.name, f"clip({lo}, {hi}) needs finite bounds for a circuit; export the "
                                              "activation as Relu or Clip(lo, hi)")
            base = self.relu(node, hi - lo)
            return affine_circuit(base, 1.0, -lo, 1.0, lo, gate="clip")   # lo + relu_(hi-lo)(x - lo)
        if op == "hard_sigmoid":
            alpha, beta = float(node.alpha), float(node.beta)
            if not (math.isfinite(alpha) and math.isfinite(beta) and alpha > 0):
                raise RewriteError(node.name, f"hard_sigmoid with alpha={alpha} <= 0 is a decreasing gate; only "
                                              "alpha > 0 has a circuit")
            # clip(alpha x + beta, 0, 1) = alpha relu_(1/alpha)(x + beta/alpha): the exact closed form, as for Clip
            return affine_circuit(self.relu(node, 1.0 / alpha), 1.0, beta / alpha, alpha, 0.0, gate="hard_sigmoid")
        if op == "leaky_relu":
            if np.float32(node.alpha) != np.float32(0.01):   # the ONNX attribute is a float32
                raise RewriteError(node.name, f"leaky_relu with slope {node.alpha}: only the slope 0.01 gate is "
                                              "registered; " + HOW_TO_REGISTER)
            return self.fitted(node, "leaky_relu")
        if op == "gate":
            return self.fitted(node, node.gate)
        if op in OP_GATES:
            return self.fitted(node, OP_GATES[op])
        if isinstance(node, _Elementwise):
            raise RewriteError(node.name, f"no FS lowering for the {op} gate; " + HOW_TO_REGISTER)
        return None

    def split(self, node) -> list[FSCircuit] | None:
        """For a gate that is ReLU outside a bounded interval (`Gate.rest_support`, e.g. HardSwish): the exact ReLU
        circuit (alpha = the calibrated maximum) and the staircase circuit of the rest f - relu on the calibrated
        range, each with the gate's K; either is left out where the range makes it 0. None: lower the gate whole."""
        name = node.gate if node.op == "gate" else OP_GATES.get(node.op)
        if name is None:
            return None
        gate = get_gate(name)
        if gate.rest_support is None:
            return None
        (lo, hi), _, _ = self.input_range(node)
        k = self.K(name)
        parts = [rounded_relu_circuit(grid_alpha(SPLIT_RELU_HEADROOM * hi, k), k)] if hi > 0 else []
        s_lo, s_hi = gate.rest_support
        if max(lo, s_lo) < min(hi, s_hi):
            try:
                rest = get_gate(f"{name}_rest").function
                rests = level_circuits(rest, (lo, hi), k, gate=f"{name}_rest", support=gate.rest_support,
                                       period=gate.rest_period, parts=self.rest)
            except (UnknownGateError, ValueError) as exc:
                raise RewriteError(node.name, f"cannot build the rest circuit of {name}: {exc}") from None
            parts += rests
            stats = self.stats.get(node.name) if self._has_input_stats(node.name) else None
            if stats is not None and stats.input_channel_min is not None:
                per_channel = channel_level_circuits(rest, stats.input_channel_min, stats.input_channel_max,
                                                     rests, support=gate.rest_support, period=gate.rest_period)
                if per_channel is not None:
                    self.channels[node.name] = per_channel
        return parts or None


def rounded_relu_circuit(alpha: float, k: int) -> FSCircuit:
    """The ReLU circuit on the grid Delta = alpha 2^-k, rounding instead of flooring: every threshold lowered by
    Delta / 2 (the membrane is float64, so the steps stay exact) computes the binary expansion of x + Delta / 2, i.e.
    y = Delta round(x / Delta) on [0, alpha): error at most Delta / 2 and no bias, where the floor's error lies in
    [0, Delta) (a bias of -Delta / 2 on every positive input, which a next conv sums over its fan-in). For the ReLU
    part of a split gate, whose values are not on a grid anyway (the rest's levels are not)."""
    floor = relu_circuit(alpha, k, gate="relu")
    delta = alpha * 2.0**-k
    shifted = affine_circuit(floor, 1.0, 0.5 * delta, gate="relu")
    return dataclasses.replace(shifted, max_abs_error=0.5 * delta, mse=delta**2 / 12.0)


def fs_population(node, circuit: FSCircuit, channels: tuple[ConstRef, ChannelCircuits] | None = None) -> FSNeuron:
    """The `fs_neuron` node that replaces gate `node` by `circuit`; `channels`: the constant and errors of its
    per-channel circuits (`circuit` then is the layer-wide one they were cut like)."""
    error, mse = (circuit.max_abs_error, circuit.mse) if channels is None else \
        (channels[1].max_abs_error, channels[1].mse)
    return FSNeuron(name=node.name, inputs=node.inputs, type=node.type, gate=circuit.gate, steps=circuit.K,
                    thresholds=circuit.thresholds, resets=circuit.resets, weights=circuit.output_weights,
                    ge=circuit.ge, bias_offset=circuit.bias_offset, x_range=tuple(circuit.x_range),
                    max_abs_error=error, mse=mse, channel_circuits=None if channels is None else channels[0])


# ops whose circuit may be fitted (the others have closed forms): the progress bar counts them
FITTED_OPS = frozenset(OP_GATES) | {"gate", "hard_sigmoid", "leaky_relu"}


def _fit_progress(graph: Graph, ctx):
    """A tqdm bar over the gates that may need a fit (stderr; shown only with ctx.progress, i.e. on a terminal)."""
    import sys

    from tqdm import tqdm

    total = sum(1 for n in graph.nodes if n.op in FITTED_OPS)
    return tqdm(total=total, desc="lower-gates: fitting gate circuits", unit="gate", file=sys.stderr, leave=False,
                disable=not ctx.progress or total == 0)


@register_pass("lower-gates")
def lower_gates(graph, ctx, k: int | None = None, importance: bool = True, fit: str = "default",
                rest: int = 1) -> PassResult:
    """Every gate -> fs_neuron{gate, steps=K, thresholds T, resets h, weights d, bias_offset, x_range, fit error}:
    a population of FS/AMOS circuits, each sub-neuron spiking at most once (algorithms.md §2). K = `k` for every
    gate, or each gate's default (ReLU 10, sigmoid 12, SiLU 16). ReLU/Clip use the exact closed form; other gates
    the shipped table or a cached, seeded refit on the calibrated input range (`importance`: weighted around
    mean +- 2 std). A product `mul` stays non-spiking and is listed in the header (`amos_non_spiking`). Sets the
    header `schedule = windowed`. `fit=quick` refits with fewer restarts and steps (gates outside the table).
    `rest=N`: a gate split as relu + rest (HardSwish) gets N rest populations whose levels interleave (the rest's
    error falls as 1 / N, at N K more sub-neurons per unit)."""
    k = check_k(k)
    rest = check_rest(rest)
    if fit not in FIT_PRESETS:
        raise OptionError(f"lower-gates: fit={fit!r}; use {' or '.join(FIT_PRESETS)}")
    if isinstance(importance, str):
        importance = importance.strip().lower() == "true"
    lowering = _Lowering(graph, ctx, k, bool(importance), FIT_PRESETS[fit], rest)
    lowering.prepare([n for n in graph.nodes if n.op == "gate" or n.op in OP_GATES
                      or n.op in ("hard_sigmoid", "leaky_relu")])
    edit = GraphEdit(graph)
    non_spiking = []
    bar = _fit_progress(graph, ctx)
    try:
        for node in graph.nodes:
            if node.op == "max_pool":
                raise RewriteError(node.name, "run maxpool-to-relu-tree before lower-gates (MaxPool as a tree of ReLU "
                                              "circuits on one grid is exact)")
            if node.op == "floor":
                raise RewriteError(node.name, "a Floor outside a QCFS activation has no circuit; run match-qcfs first")
            if node.op == "mul":
                non_spiking.append(node.name)
                continue
            if node.spiking:
                if node.op != "fs_neuron":
                    raise RewriteError(node.name, f"{node.op} is already lowered to another coding")
                continue
            if node.op in FITTED_OPS:
                bar.set_postfix_str(f"%{node.name}", refresh=False)
            parts = lowering.split(node)

            def population(target: str, circuit: FSCircuit, index: int = 0) -> FSNeuron:
                per_channel = lowering.channels.get(node.name) if circuit.gate != "relu" else None
                channels = None if per_channel is None else \
                    (edit.constant(f"{target}.channels", per_channel[index].table, dtype=np.float64),
                     per_channel[index])
                return fs_population(node.replace(name=target), circuit, channels)

            if parts is not None and len(parts) >= 2:
                # f = relu + rest: populations reading the same input, summed for the consumers
                rests = [p for p in parts if p.gate != "relu"]
                labels = (["relu"] if len(rests) < len(parts) else []) + \
                    ["rest" if i == 0 else f"rest{i}" for i in range(len(rests))]
                names = [edit.fresh_name(f"{node.name}.{label}") for label in labels]
                offset = len(parts) - len(rests)
                for i, (part_name, circuit) in enumerate(zip(names, parts)):
                    edit.insert_before(node.name, population(part_name, circuit, i - offset))
                edit.replace(Add(name=node.name, inputs=tuple(names), type=node.type, coeffs=(1.0,) * len(names)))
                bar.update(node.op in FITTED_OPS)
                continue
            circuit = parts[0] if parts is not None else lowering.circuit(node)
            if node.op in FITTED_OPS:
                bar.update()
            if circuit is not None:
                edit.replace(population(node.name, circuit))
    finally:
        bar.close()
    if not edit.modified:
        return PassResult(graph, False)   # no gate: nothing runs on the windowed schedule
    meta = dict(graph.meta)
    meta["schedule"] = "windowed"
    if non_spiking:
        meta["amos_non_spiking"] = ",".join(non_spiking)
        ctx.log.append(f"lower-gates: {len(non_spiking)} product(s) stay non-spiking mul nodes (analog multiply, "
                       f"as in the AMOS EfficientNet run): {', '.join('%' + n for n in non_spiking)}")
    return PassResult(edit.apply().with_(meta=meta), True)


# ---------------------------------------------------------------------------------------------------------------
# GELU exported as its erf formula (ONNX opsets < 20): x * 0.5 * (1 + Erf(x / sqrt 2)) -> one gelu gate
# ---------------------------------------------------------------------------------------------------------------

def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise."""
    return np.vectorize(math.erf, otypes=[float])(np.asarray(x, dtype=float))


def _register_erf() -> None:
    """The `erf` gate (fitted; what a lone Erf becomes) and an ONNX `Erf` converter emitting `gate{gate="erf"}`."""
    from snncc.frontend import CONVERTERS, converter
    from snncc.gates import Gate, Lowering, register_gate
    from snncc.ir import GateOp

    register_gate(Gate(name="erf", function=erf, default_K=12, default_range=(-3.0, 3.0), lowering=Lowering.FITTED,
                       description="erf, fitted; GELU's erf formula is matched to one gelu gate by match-gelu"),
                  replace=True)
    if "Erf" not in CONVERTERS:
        @converter("Erf")
        def convert_erf(ctx, node):
            ctx.emit(GateOp, node, [ctx.value(node.input[0], node)], gate="erf")


def _scalar(graph: Graph, ref) -> float | None:
    """The value of a one-element constant, else None."""
    if ref is None:
        return None
    value = np.asarray(graph.constants[ref])
    return float(value.reshape(-1)[0]) if value.size == 1 else None


def _close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 1e-6 * max(1.0, abs(b))


def _scaled_source(graph: Graph, nodes, name: str) -> tuple[str, float] | None:
    """(x, k) when value `name` is k * x: x itself (k = 1) or an affine with a scalar scale and no shift."""
    node = nodes[name]
    if node.op == "affine" and node.shift is None:
        k = _scalar(graph, node.scale)
        return (node.inputs[0], k) if k is not None else None
    return name, 1.0


def _erf_half(graph: Graph, nodes, name: str) -> tuple[str, float, list[str]] | None:
    """(x, a, chain) when value `name` is a * (1 + erf(x / sqrt 2)) through affines with scalar constants; `chain`
    lists the nodes between (the erf and its input scaling included)."""
    s, t, chain = 1.0, 0.0, []
    node = nodes[name]
    while node.op == "affine":
        scale, shift = _scalar(graph, node.scale), _scalar(graph, node.shift)
        if (node.scale is not None and scale is None) or (node.shift is not None and shift is None):
            return None
        scale = 1.0 if scale is None else scale
        s, t = s * scale, s * (0.0 if shift is None else shift) + t     # s * (scale * inner + shift) + t
        chain.append(node.name)
        node = nodes[node.inputs[0]]
    if node.op != "gate" or node.gate != "erf":
        return None
    chain.append(node.name)
    source = _scaled_source(graph, nodes, node.inputs[0])
    if source is None or not _close(source[1], 1 / math.sqrt(2)) or not _close(s, t) or source[0] == node.inputs[0]:
        return None
    chain.append(node.inputs[0])
    return source[0], s, chain


@register_pass("match-gelu")
def match_gelu(graph, ctx) -> PassResult:
    """GELU exported as its erf formula becomes one gelu gate (so `lower-gates` gives it one fitted circuit):

        mul(k x, a (1 + erf(c x)))  with c = 1/sqrt 2  ->  2 a k * gelu(x)      (gelu(x) = x/2 (1 + erf(x/sqrt 2)))

    the erf side being any chain of scalar affines (Div/Mul/Add by constants) around `gate{gate="erf"}`, and k x
    either x or a scalar scaling of it. The factor 2ak is an `affine{scale}` after the gelu when it is not 1 (the
    usual trailing 0.5 is then folded by fold-affine). Fires only when the intermediate values have no other reader;
    a lone Erf stays an erf gate."""
    nodes = graph.node_map()
    consumers = graph.consumers()
    edit = GraphEdit(graph)
    dead: set[str] = set()
    for node in graph.nodes:
        if node.op != "mul" or node.name in dead:
            continue
        for left, right in ((node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])):
            half = _erf_half(graph, nodes, right)
            scaled = _scaled_source(graph, nodes, left)
            if half is None or scaled is None or scaled[0] != half[0]:
                continue
            x, a, chain = half
            own = chain[:-1] + ([left] if left != x else [])            # the erf input scaling is chain[-1]
            readers_ok = all(len(consumers[n]) == 1 and n not in graph.outputs for n in [right] + own)
            scaling = chain[-1]
            if not readers_ok or len(consumers[scaling]) != 1 or scaling in graph.outputs:
                continue
            factor = 2.0 * a * scaled[1]
            gelu_name = node.name if factor == 1.0 else edit.fresh_name(f"{node.name}.gelu")
            gelu = Gelu(name=gelu_name, inputs=(x,), type=node.type)
            if factor == 1.0:
                edit.replace(gelu)
            else:
                edit.insert_before(node.name, gelu)
                edit.replace(Affine(name=node.name, inputs=(gelu_name,), type=node.type,
                                    scale=edit.constant(f"{node.name}.scale", np.asarray(factor, np.float32))))
            for name in set(own + [right, scaling]):
                edit.remove(name, x)
                dead.add(name)
            break
    return PassResult(edit.apply(), edit.modified)


_register_erf()


def amos_pipeline(phases: int | None = None, stat: str = "percentile", percentile: float = 99.99,
                  fit: str = "default", rest: int = 1, **_: object) -> str:
    """`--coding amos`: every gate a circuit of at-most-one-spike neurons on the layer-windowed schedule.

    `phases` (-K) sets K for every gate; None keeps each gate's default (ReLU 10, sigmoid 12, SiLU 16). ReLU alphas
    are layer-wise (`stat` max or percentile q of the calibrated activations; Clip(0, c): c); MaxPool becomes a
    tree of ReLU circuits on the producer's grid (exact). `fit=quick`: cheaper refits, `rest=N`: N interleaved
    rest populations per HardSwish (see lower-gates)."""
    from snncc.pipeline import CANONICALIZE

    k = check_k(phases)
    if stat not in ("max", "percentile"):
        raise OptionError(f"--coding amos takes ReLU alphas from ANN activations: use --stat max or percentile "
                          f"(got {stat})")
    if fit not in FIT_PRESETS:
        raise OptionError(f"amos: fit={fit!r}; use {' or '.join(FIT_PRESETS)}")
    rest = check_rest(rest)
    options = ([f"fit={fit}"] if fit != "default" else []) + ([f"k={k}"] if k is not None else []) + \
        ([f"rest={rest}"] if rest != 1 else [])
    lower = "lower-gates" + ("{" + ",".join(options) + "}" if options else "")
    return (f"match-gelu,{CANONICALIZE},calibrate,balance-thresholds{{mode=layer,q={percentile},stat={stat}}},"
            f"maxpool-to-relu-tree,{lower},insert-delays")


def _register() -> None:
    from snncc.pipeline import register_coding

    register_coding("amos", amos_pipeline)


_register()


@register_precondition("lower-gates")
def lower_gates_precondition(graph, view) -> list[Blocker]:
    """What lower-gates refuses from the graph alone: gates with no registered circuit, a LeakyRelu slope or a
    decreasing HardSigmoid the table lacks, a bare Floor, a MaxPool without the ReLU tree, another coding's neurons.
    Products (`mul`, squeeze-excitation) are not refused: they stay non-spiking, said in a note."""
    blockers = []
    for node in graph.nodes:
        op = node.op
        if op == "mul":
            blockers.append(Blocker(node.name, op, "a product of two activations (squeeze-excitation) stays a "
                                    "non-spiking mul (analog multiply)", blocking=False))
        elif op == "max_pool" and not view.ran("maxpool-to-relu-tree"):
            blockers.append(Blocker(node.name, op, "max_pool reaches lower-gates", "run maxpool-to-relu-tree first"))
        elif op == "floor":
            blockers.append(Blocker(node.name, op, "a Floor outside a QCFS activation has no circuit"))
        elif op == "gate" or op in OP_GATES:
            name = node.gate if op == "gate" else OP_GATES[op]
            try:
                get_gate(name)
            except UnknownGateError:
                blockers.append(Blocker(node.name, op, f"no FS lowering for gate {name!r}", HOW_TO_REGISTER))
        elif op == "leaky_relu" and np.float32(node.alpha) != np.float32(0.01):
            blockers.append(Blocker(node.name, op, f"leaky_relu with slope {node.alpha}: only the slope 0.01 gate "
                                    "is registered", HOW_TO_REGISTER))
        elif op == "hard_sigmoid" and float(node.alpha) <= 0:
            blockers.append(Blocker(node.name, op, f"hard_sigmoid with alpha={node.alpha} <= 0 is a decreasing "
                                    "gate"))
        elif node.spiking and op != "fs_neuron":
            blockers.append(Blocker(node.name, op, f"{op} is already lowered to another coding"))
        elif isinstance(node, _Elementwise) and op not in ("relu", "bounded_relu", "qcfs", "clip", "hard_sigmoid",
                                                           "leaky_relu"):
            blockers.append(Blocker(node.name, op, f"no FS lowering for the {op} gate", HOW_TO_REGISTER))
    return blockers

