"""fold-bn, fold-affine, fold-input-norm: numeric equality before/after, and cases that must not fire."""

import numpy as np
from onnx import helper

from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import run, verify
from snncc.passes import PassContext, fold_affine, fold_bn, fold_input_norm
from tests.helpers import make_model, rand


def _graph(nodes, in_shape, inits):
    return onnx_to_ir(prepare(make_model(nodes, in_shape, None, inits)))


def _same(before, after, x):
    verify(after)
    np.testing.assert_allclose(run(after, x)[after.outputs[0]], run(before, x)[before.outputs[0]], atol=1e-5)


BN = {"g": rand(3) + 2, "b": rand(3), "m": rand(3), "v": np.abs(rand(3)) + 0.5}


def test_fold_bn_into_conv():
    nodes = [helper.make_node("Conv", ["x", "w", "c"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["y"])]
    g = _graph(nodes, (2, 5, 5), {"w": rand(3, 2, 3, 3), "c": rand(3), **BN})
    result = fold_bn(g, PassContext())
    assert result.modified and [n.op for n in result.graph.nodes] == ["input", "conv"]
    _same(g, result.graph, rand(4, 2, 5, 5))
    assert not fold_bn(result.graph, PassContext()).modified  # idempotent


def test_fold_bn_after_add_becomes_affine():
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["h", "h"], ["a"]),
             helper.make_node("BatchNormalization", ["a", "g", "b", "m", "v"], ["y"])]
    g = _graph(nodes, (2, 4, 4), {"w": rand(3, 2, 3, 3), **BN})
    result = fold_bn(g, PassContext())
    assert [n.op for n in result.graph.nodes][-1] == "affine"
    _same(g, result.graph, rand(4, 2, 4, 4))


def test_fold_bn_must_not_fold_into_shared_conv_output():
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"]),
             helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["n"]),
             helper.make_node("Add", ["n", "h"], ["y"])]
    g = _graph(nodes, (2, 4, 4), {"w": rand(3, 2, 1, 1), **BN})
    result = fold_bn(g, PassContext())
    assert "conv" in [n.op for n in result.graph.nodes] and "affine" in [n.op for n in result.graph.nodes]
    _same(g, result.graph, rand(4, 2, 4, 4))


def test_fold_affine_matmul_bias():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["a"]),
             helper.make_node("Mul", ["a", "s"], ["y"])]
    g = _graph(nodes, (5,), {"w": rand(5, 4), "b": rand(4), "s": rand(4)})
    result = fold_affine(g, PassContext())
    assert [n.op for n in result.graph.nodes] == ["input", "dense"]
    _same(g, result.graph, rand(4, 5))
    assert not fold_affine(result.graph, PassContext()).modified


def test_fold_input_norm_into_first_conv():
    nodes = [helper.make_node("Sub", ["x", "mean"], ["s"]), helper.make_node("Div", ["s", "std"], ["d"]),
             helper.make_node("Conv", ["d", "w", "c"], ["y"])]
    inits = {"mean": np.array([0.5, 0.1], np.float32).reshape(2, 1, 1),
             "std": np.array([0.2, 0.4], np.float32).reshape(2, 1, 1), "w": rand(3, 2, 3, 3), "c": rand(3)}
    g = _graph(nodes, (2, 5, 5), inits)
    merged = fold_affine(g, PassContext()).graph  # (x - mean) / std becomes one affine
    assert [n.op for n in merged.nodes] == ["input", "affine", "conv"]
    _same(g, merged, rand(4, 2, 5, 5))
    folded = fold_input_norm(merged, PassContext()).graph
    assert [n.op for n in folded.nodes] == ["input", "conv"]
    _same(g, folded, rand(4, 2, 5, 5))


def test_fold_input_norm_must_not_fire_on_padded_conv_with_shift():
    nodes = [helper.make_node("Sub", ["x", "mean"], ["s"]), helper.make_node("Conv", ["s", "w"], ["y"],
                                                                           pads=[1, 1, 1, 1])]
    g = _graph(nodes, (2, 5, 5), {"mean": np.array([0.5, 0.1], np.float32).reshape(2, 1, 1), "w": rand(3, 2, 3, 3)})
    assert not fold_input_norm(g, PassContext()).modified
