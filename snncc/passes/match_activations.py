"""match-activations: an activation that an exporter wrote out as elementwise arithmetic becomes one gate.

Exporters (Paddle, older torch, tf2onnx) spell the same gate many ways: HardSwish as `x * Clip(x + 3, 0, 6) / 6`,
`Mul(x, HardSigmoid(x))`, `x * Relu6(x + 3) * (1/6)` (Relu6 as Clip or as Max/Min); SiLU as `x * Sigmoid(x)`;
GELU as `0.5 x (1 + erf(x / sqrt 2))` or `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`. Rather than one pattern
per spelling, the pass reads the arithmetic as a function of one value and compares it with the gates.
"""

from __future__ import annotations

import math

import numpy as np

from snncc.gates import builtin_gates
from snncc.ir import Affine, Gelu, GateOp, HardSwish, SiLU
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit

# ops that act on each element alone; with scalar constants their composition is a function R -> R
SCALAR_OPS = frozenset({"affine", "add", "mul", "clip", "relu", "bounded_relu", "sigmoid", "hard_sigmoid", "tanh",
                        "gate"})
MAX_CONE = 24                 # the longest spelling (GELU tanh with Pow as products) has 10 nodes
DENSE = np.linspace(-8.0, 8.0, 3201)   # step 1/200: hits the kinks at -3, 0, 3 of the hard gates
FAR = np.logspace(1.0, 4.0, 31)        # |x| in [10, 1e4]: a clip far out (x clipped to +-20) shows here
PROBE = np.concatenate([-FAR[::-1], DENSE, FAR])
_DENSE = slice(len(FAR), len(FAR) + len(DENSE))
# The float32 constants of a spelling (1/6, 1/sqrt 2, 0.044715) are exact to ~1e-7 relative; GELU's erf and tanh
# forms differ by 6e-5 of max|y| on PROBE, so 1e-6 tells them apart and accepts every float32 spelling.
RTOL = 1e-6


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return builtin_gates.gelu_tanh(x)


# gate name -> (reference function, IR node class or GateOp gate name)
CANDIDATES = (
    ("hardswish", builtin_gates.hardswish, HardSwish),
    ("silu", builtin_gates.silu, SiLU),
    ("gelu", builtin_gates.gelu, Gelu),
    ("gelu_tanh", builtin_gates.gelu_tanh, "gelu_tanh"),
)


def _scalar_node(graph, node) -> bool:
    """True when `node` maps each element on its own with scalar constants."""
    if node.op not in SCALAR_OPS:
        return False
    return all(np.asarray(graph.constants[ref]).size == 1 for ref in node.const_refs())


def _cone(graph, nodes, consumers, root) -> list:
    """The scalar nodes above `root` (root included) whose values only `root`'s computation reads, in graph order."""
    cone = {root.name}
    grown = True
    while grown and len(cone) < MAX_CONE:
        grown = False
        for name in list(cone):
            for value in nodes[name].inputs:
                producer = nodes.get(value)
                if value in cone or producer is None or not _scalar_node(graph, producer) or value in graph.outputs:
                    continue
                if all(reader.name in cone for reader in consumers.get(value, [])):
                    cone.add(value)
                    grown = True
    return [n for n in graph.nodes if n.name in cone]


def _sub_cone(cone: list, root, x: str) -> list | None:
    """The nodes of `cone` that compute `root` from `x` alone, or None when another value enters."""
    by_name = {n.name: n for n in cone}
    needed, stack = set(), [root.name]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        for value in by_name[name].inputs:
            if value == x:
                continue
            if value not in by_name:
                return None
            stack.append(value)
    return [n for n in cone if n.name in needed]


def _evaluate(graph, sub: list, x: str) -> np.ndarray | None:
    values = {x: PROBE}
    with np.errstate(all="ignore"):
        for node in sub:
            values[node.name] = np.asarray(node.evaluate([values[v] for v in node.inputs], graph.constants),
                                           dtype=np.float64)
    y = values[sub[-1].name]
    return y if np.all(np.isfinite(y)) else None


def identify(y: np.ndarray) -> tuple[str, float] | None:
    """(gate, a) with y = a * gate(PROBE) within RTOL of max |y| on [-8, 8] and of |y| beyond, or None."""
    dense = y[_DENSE]
    scale = float(np.max(np.abs(dense)))
    if scale == 0:
        return None
    for name, function, _ in CANDIDATES:
        f = function(PROBE)
        a = float(np.dot(dense, f[_DENSE]) / np.dot(f[_DENSE], f[_DENSE]))
        error = np.abs(y - a * f)
        if np.max(error[_DENSE]) <= RTOL * scale and np.all(error <= RTOL * np.maximum(np.abs(y), scale)):
            return name, a
    return None


def match_one(graph, nodes, consumers, root) -> tuple[dict, str | None]:
    """The activation that ends at `root`: ({"x", "gate", "scale", "nodes"}, None) or ({}, why not)."""
    cone = _cone(graph, nodes, consumers, root)
    if not any(n.op == "mul" for n in cone):
        return {}, "no product of two activations (nothing to recognise)"
    inputs = {v for n in cone for v in n.inputs}
    # the earliest candidate first: the widest spelling wins over its inner part
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    for x in sorted(inputs, key=lambda v: order.get(v, -1)):
        sub = _sub_cone(cone, root, x)
        if sub is None or not any(n.op == "mul" for n in sub):
            continue
        y = _evaluate(graph, sub, x)
        found = None if y is None else identify(y)
        if found is not None:
            return {"x": x, "gate": found[0], "scale": found[1], "nodes": sub}, None
    return {}, "the arithmetic is not a known gate times a constant"


def _gate_node(gate: str, name: str, x: str, type_):
    kind = next(k for g, _, k in CANDIDATES if g == gate)
    if isinstance(kind, str):
        return GateOp(name=name, inputs=(x,), type=type_, gate=kind)
    return kind(name=name, inputs=(x,), type=type_)


@register_pass("match-activations")
def match_activations(graph, ctx) -> PassResult:
    """A decomposed activation becomes one gate node:

        r = a * g(x)  for every x in [-8, 8]   ->   g(x) (then affine{scale=a} when a != 1)

    where r is computed from the single value x by nodes that act elementwise with scalar constants (affine, add,
    mul, clip, relu, sigmoid, hard_sigmoid, tanh, erf) and include a product, every intermediate value read only
    inside the spelling, and g one of hardswish, silu, gelu (erf), gelu_tanh. Each candidate r is evaluated on 3201
    points of [-8, 8] and compared with a * g within 1e-6 of max |r| (a by least squares), and on 62 points with
    10 <= |x| <= 1e4 within 1e-6 relative. The functions are piecewise analytic with kinks only at the clip bounds,
    so agreement on the grid is agreement everywhere the exporter's float32 constants allow; of several candidate x
    the earliest that matches wins (hardswish(clip(x, -20, 20)) matches at the clip's output and keeps the clip).
    A product of two different activations (squeeze-excitation x * sigmoid(s)) has two inputs and never matches.
    Part of every coding's canonicalisation (`snncc.pipeline.CANONICALIZE`)."""
    nodes = graph.node_map()
    consumers = graph.consumers()
    edit = GraphEdit(graph)
    done: set[str] = set()
    for root in reversed(graph.nodes):
        if root.name in done or not _scalar_node(graph, root):
            continue
        match, reason = match_one(graph, nodes, consumers, root)
        if reason is not None or any(n.name in done for n in match["nodes"]):
            continue
        x, gate, scale = match["x"], match["gate"], match["scale"]
        for node in match["nodes"]:
            done.add(node.name)
            if node.name != root.name:
                edit.remove(node.name, x)
        unit = math.isclose(scale, 1.0, rel_tol=RTOL, abs_tol=0)   # x * c / 6 with c = 6 in float32
        if unit:
            edit.replace(_gate_node(gate, root.name, x, root.type))
        else:
            name = edit.fresh_name(f"{root.name}.{gate}")
            edit.insert_before(root.name, _gate_node(gate, name, x, root.type))
            edit.replace(Affine(name=root.name, inputs=(name,), type=root.type,
                                scale=edit.constant(f"{root.name}.scale", np.asarray(scale, np.float32))))
        ctx.log.append(f"match-activations: %{root.name} is {gate}(%{x})"
                       + ("" if unit else f" * {scale:.9g}") + f" ({len(match['nodes'])} nodes)")
    return PassResult(edit.apply(), edit.modified)
