"""maxpool-to-relu-tree: MaxPool as a tree of max(a, b) = b + relu(a - b), exact in ANN mode and built from
linear synapses and ReLU populations that any coding can lower (algorithms.md §1.4)."""

from __future__ import annotations

import math

import numpy as np

from snncc.errors import DataError, OptionError
from snncc.ir import Add, Affine, BoundedRelu, Conv, Dense, MaxPool, Relu
from snncc.passes.manager import RewriteError
from snncc.passes.preconditions import Blocker, register_precondition
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit

NON_NEGATIVE_OPS = frozenset({"relu", "bounded_relu", "if_neuron", "qcfs", "sigmoid", "hard_sigmoid"})
# Data-free lower bounds of gates whose output can be negative: min over x of HardSwish, SiLU, GELU, tanh.
DATA_FREE_LOWER = {"hard_swish": -0.375, "silu": -0.27846454276107374, "gelu": -0.16997120747990962, "tanh": -1.0}
ONLY = ("all", "signed")


def _lower_bound(node) -> float | None:
    """A lower bound of the node's output known from the graph alone, else None."""
    if node.op in NON_NEGATIVE_OPS:
        return 0.0
    if node.op == "clip" and math.isfinite(node.lo):
        return float(node.lo)
    return DATA_FREE_LOWER.get(node.op)


def pool_input_ranges(graph, ctx, pools: list[MaxPool]) -> dict[str, tuple[float, float]]:
    """(min, max) of each pool's input over the calibration data in ANN mode (cached in ctx.stats)."""
    cache = ctx.stats.setdefault("pool_inputs", {})
    missing = [p.name for p in pools if p.name not in cache]
    if missing:
        if ctx.calibration is None:
            raise DataError(f"max_pool {', '.join('%' + m for m in missing)} reads a value that can be negative; "
                            "its ReLU tree needs the value's range from calibration data (pass --calib FILE.npz)")
        from snncc.passes.lower_gates import input_stats

        for name, (lo, hi, _, _) in input_stats(graph, ctx.calibration, missing).items():
            cache[name] = (lo, hi)
    return {p.name: cache[p.name] for p in pools}


@register_pass("maxpool-to-relu-tree")
def maxpool_to_relu_tree(graph, ctx, only: str = "all") -> PassResult:
    """Each of the kh*kw window taps becomes a depthwise one-hot conv `sel_ij` (stride and pads of the pool); then
    pairs reduce as m = b + relu(a - b) in a balanced tree. The relu of a pair inherits the producer's threshold
    theta when it has one (the difference of two values in [0, theta] lies in [-theta, theta]).

    An input that can be negative (LeakyRelu, HardSwish, a residual sum, the graph input, ...) has a range [lo, hi]
    (data-free for bounded gates, else calibrated): the relus get theta = hi - lo, and with padding the pool uses
    maxpool(x) = maxpool(x + c) - c, c = -lo, because zero padding equals -inf padding only for x + c >= 0. The
    shifts are `affine` nodes, folded into the bias of a conv/dense producer or of a conv/dense a residual `add`
    producer sums (before), and of dense/unpadded conv readers (after), where the pool is the only reader.

    `only=signed` rewrites only the pools whose input is not a ReLU population (phase coding keeps those for its
    first-spike pool)."""
    if only not in ONLY:
        raise OptionError(f"maxpool-to-relu-tree{{only={only}}}: use one of {', '.join(ONLY)}")
    edit = GraphEdit(graph)
    nodes = graph.node_map()
    consumers = graph.consumers()
    pools = [n for n in graph.nodes if isinstance(n, MaxPool)]
    if only == "signed":
        pools = [p for p in pools if nodes[p.inputs[0]].op not in ("bounded_relu", "qcfs")]
    signed = [p for p in pools if nodes[p.inputs[0]].op not in NON_NEGATIVE_OPS]
    ranges = pool_input_ranges(graph, ctx, signed) if signed else {}
    for pool in pools:
        producer = nodes[pool.inputs[0]]
        theta = getattr(producer, "theta", None)
        source = pool.inputs[0]
        shift = 0.0
        if pool.name in ranges:
            lo, hi = ranges[pool.name]
            known = _lower_bound(producer)
            lo = min(lo, known) if known is not None else lo
            hi = max(hi, lo + 1e-6)
            theta = edit.constant(f"{pool.name}.theta", np.array(hi - lo, np.float32))
            if any(pool.pads) and lo < 0:
                shift = -lo
                source = _shift_before(edit, graph, consumers, pool, producer, shift)
        root = _tree(edit, pool, source, theta, output=edit.fresh_name(f"{pool.name}.max") if shift else pool.name)
        if shift:
            _shift_after(edit, graph, consumers, pool, root, shift)
        elif root != pool.name:       # a 1x1 pool: the single tap is the output
            edit.remove(pool.name, root)
    return PassResult(edit.apply(), edit.modified)


def _tree(edit: GraphEdit, pool: MaxPool, source: str, theta, output: str) -> str:
    """The taps and the balanced max tree of `pool` on value `source`, its root named `output` (a 1x1 pool: the
    single tap); returns the root's name."""
    channels = pool.type.shape[0]
    kh, kw = pool.kernel
    taps = []
    for i in range(kh):
        for j in range(kw):
            w = np.zeros((channels, 1, kh, kw), np.float32)
            w[:, 0, i, j] = 1.0
            name = edit.fresh_name(f"{pool.name}.sel{i}{j}")
            taps.append(Conv(name=name, inputs=(source,), type=pool.type,
                             weight=edit.constant(f"{name}.weight", w), strides=pool.strides, pads=pool.pads,
                             groups=channels))
    for tap in taps:
        edit.insert_before(pool.name, tap)
    level = [t.name for t in taps]
    depth = 0
    while len(level) > 1:
        nxt = []
        for k in range(0, len(level) - 1, 2):
            a, b = level[k], level[k + 1]
            last = len(level) == 2
            tag = f"{pool.name}.max{depth}_{k // 2}"
            diff = Add(name=edit.fresh_name(f"{tag}.diff"), inputs=(a, b), type=pool.type, coeffs=(1.0, -1.0))
            relu_name = edit.fresh_name(f"{tag}.relu")
            relu = (BoundedRelu(name=relu_name, inputs=(diff.name,), type=pool.type, theta=theta)
                    if theta is not None else Relu(name=relu_name, inputs=(diff.name,), type=pool.type))
            out_name = output if last else edit.fresh_name(tag)
            total = Add(name=out_name, inputs=(b, relu_name), type=pool.type, coeffs=(1.0, 1.0))
            edit.insert_before(pool.name, diff)
            edit.insert_before(pool.name, relu)
            if last and output == pool.name:
                edit.replace(total)
            else:
                edit.insert_before(pool.name, total)
            nxt.append(out_name)
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        depth += 1
    return level[0]


def _sole_reader(consumers, value: str, reader: str) -> bool:
    return [c.name for c in consumers.get(value, [])] == [reader]


def _add_to_bias(edit: GraphEdit, graph, layer, amount: float) -> None:
    """layer (a conv or dense) with `amount` added to every output."""
    if isinstance(layer, Conv):
        zero = np.zeros(layer.type.shape[0], np.float32)
    else:
        zero = np.zeros((layer.type.shape[layer.axis],) + (1,) * (-layer.axis - 1), np.float32)
    bias = zero if layer.bias is None else np.asarray(graph.constants[layer.bias])
    ref = edit.constant(f"{layer.name}.bias", bias + np.float32(amount), replacing=layer.bias)
    edit.replace(layer.replace(bias=ref))


def _biased_layer(edit: GraphEdit, graph, consumers, node, reader: str) -> bool:
    return (isinstance(node, (Conv, Dense)) and _sole_reader(consumers, node.name, reader)
            and node.name not in graph.outputs and not edit.changed(node.name))


def _shift_before(edit: GraphEdit, graph, consumers, pool: MaxPool, producer, shift: float) -> str:
    """x + c as the value the taps read: folded into the bias of the producer when it is a conv/dense read only by
    the pool, or of such a layer summed by an `add` producer (a residual sum: a + k b + c = a + k (b + c / k)),
    else an `affine{shift=c}` node."""
    if _biased_layer(edit, graph, consumers, producer, pool.name):
        _add_to_bias(edit, graph, producer, shift)
        return producer.name
    if isinstance(producer, Add) and _sole_reader(consumers, producer.name, pool.name) and (
            producer.name not in graph.outputs):
        nodes = graph.node_map()
        for src, k in zip(producer.inputs, producer.coeffs):
            if k != 0 and producer.inputs.count(src) == 1 and _biased_layer(edit, graph, consumers, nodes[src],
                                                                              producer.name):
                _add_to_bias(edit, graph, nodes[src], shift / k)
                return producer.name
    name = edit.fresh_name(f"{pool.name}.shift")
    edit.insert_before(pool.name, Affine(name=name, inputs=(pool.inputs[0],), type=producer.type,
                                         shift=edit.constant(f"{name}.c", np.array(shift, np.float32))))
    return name


def _shift_after(edit: GraphEdit, graph, consumers, pool: MaxPool, root: str, shift: float) -> None:
    """max - c: folded into the bias of the pool's readers when they all are dense layers or unpadded convs (W (m - c)
    + b = W m + (b - c sum W)), else the pool becomes `affine{shift=-c}` on the tree's root."""
    readers = consumers.get(pool.name, [])
    foldable = bool(readers) and pool.name not in graph.outputs and all(
        (isinstance(r, Dense) and r.axis in (-1, len(r.type.shape) - 1)) or (isinstance(r, Conv) and not any(r.pads))
        for r in readers) and all(len(r.inputs) == 1 and not edit.changed(r.name) for r in readers)
    if not foldable:
        edit.replace(Affine(name=pool.name, inputs=(root,), type=pool.type,
                            shift=edit.constant(f"{pool.name}.c", np.array(-shift, np.float32))))
        return
    for reader in readers:
        w = np.asarray(graph.constants[reader.weight], np.float64)
        drop = w.sum(axis=tuple(range(1, w.ndim))) * shift
        channels = w.shape[0]
        bias = np.zeros(channels, np.float32) if reader.bias is None else np.asarray(graph.constants[reader.bias])
        if isinstance(reader, Conv):
            new = bias - drop.astype(np.float32)
        else:
            new = bias - np.broadcast_to(drop.astype(np.float32), bias.shape if bias.ndim else (channels,))
        edit.replace(reader.replace(bias=edit.constant(f"{reader.name}.bias", new, replacing=reader.bias)))
    edit.remove(pool.name, root)


@register_precondition("maxpool-to-relu-tree")
def maxpool_to_relu_tree_precondition(graph, view) -> list[Blocker]:
    """The pass itself, tried without calibration data: it takes the pools it can (or asks for data: then it takes
    them once calibrated). A refusal is confirmed on the graph before balancing, where a Clip(0, c) producer is
    still a clip (balancing makes it a bounded ReLU, which the tree takes)."""
    from snncc.errors import DataError
    from snncc.passes.registry import PassContext

    try:
        maxpool_to_relu_tree(graph, PassContext(), **view.options)
        return []
    except DataError:
        return []
    except RewriteError:
        pass
    nodes = graph.node_map()
    blockers = []
    for pool in graph.nodes:
        if isinstance(pool, MaxPool):
            producer = nodes[pool.inputs[0]]
            if producer.op not in NON_NEGATIVE_OPS and not (producer.op == "clip" and float(producer.lo) >= 0):
                blockers.append(Blocker(pool.name, pool.op, f"max_pool reads {producer.op} output, which can be "
                                        "negative; the ReLU tree needs a non-negative input",
                                        "a ReLU before the pool"))
    return blockers
