"""maxpool-to-relu-tree: MaxPool as a tree of max(a, b) = b + relu(a - b), exact in ANN mode and built from
linear synapses and ReLU populations that any coding can lower (algorithms.md §1.4)."""

from __future__ import annotations

import numpy as np

from snncc.ir import Add, BoundedRelu, Conv, MaxPool, Relu
from snncc.passes.manager import RewriteError
from snncc.passes.preconditions import Blocker, register_precondition
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit

NON_NEGATIVE_OPS = frozenset({"relu", "bounded_relu", "if_neuron", "qcfs", "sigmoid", "hard_sigmoid"})


@register_pass("maxpool-to-relu-tree")
def maxpool_to_relu_tree(graph, ctx) -> PassResult:
    """Each of the kh*kw window taps becomes a depthwise one-hot conv `sel_ij` (stride and pads of the pool); then
    pairs reduce as m = b + relu(a - b) in a balanced tree. The relu of a pair inherits the producer's threshold
    theta when it has one (the difference of two values in [0, theta] lies in [-theta, theta]).

    Zero padding equals -inf padding only for non-negative inputs, so the producer must be a ReLU-like op."""
    edit = GraphEdit(graph)
    nodes = graph.node_map()
    for pool in graph.nodes:
        if not isinstance(pool, MaxPool):
            continue
        producer = nodes[pool.inputs[0]]
        if producer.op not in NON_NEGATIVE_OPS:
            raise RewriteError(pool.name, f"max_pool reads {producer.op} output, which can be negative; the ReLU tree "
                                          "needs a non-negative input (a ReLU before the pool)")
        theta = getattr(producer, "theta", None)
        channels = pool.type.shape[0]
        kh, kw = pool.kernel
        taps = []
        for i in range(kh):
            for j in range(kw):
                w = np.zeros((channels, 1, kh, kw), np.float32)
                w[:, 0, i, j] = 1.0
                name = edit.fresh_name(f"{pool.name}.sel{i}{j}")
                taps.append(Conv(name=name, inputs=pool.inputs, type=pool.type,
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
                out_name = pool.name if last else edit.fresh_name(tag)
                total = Add(name=out_name, inputs=(b, relu_name), type=pool.type, coeffs=(1.0, 1.0))
                edit.insert_before(pool.name, diff)
                edit.insert_before(pool.name, relu)
                if last:
                    edit.replace(total)
                else:
                    edit.insert_before(pool.name, total)
                nxt.append(out_name)
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
            depth += 1
        if level[0] != pool.name:  # a 1x1 pool: the single tap is the output
            edit.remove(pool.name, level[0])
    return PassResult(edit.apply(), edit.modified)




@register_precondition("maxpool-to-relu-tree")
def maxpool_to_relu_tree_precondition(graph, view) -> list[Blocker]:
    """The ReLU tree needs a non-negative pool input (clip with lo >= 0 counts: balancing makes it a bounded ReLU)."""
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
