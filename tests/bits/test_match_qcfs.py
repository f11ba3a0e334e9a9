"""match-qcfs: the exported QCFS activation becomes one qcfs node (exact in ANN mode), and must not fire on
look-alikes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import run, verify
from snncc.passes import PassContext, PassManager, match_qcfs
from tests.bits.qcfs_models import inputs, qcfs_cnn, qcfs_nodes
from tests.helpers import make_model, onnxruntime_run


def _import(model):
    return onnx_to_ir(prepare(model))


@pytest.mark.parametrize("variant,per_channel", [("torch", False), ("torch", True), ("commuted", False),
                                                 ("commuted", True)])
def test_pattern_becomes_one_qcfs_node(variant, per_channel):
    model = qcfs_cnn(3, variant=variant, per_channel=per_channel)
    graph = _import(model)
    result = match_qcfs(graph, PassContext())
    verify(result.graph)
    assert result.modified
    ops = [n.op for n in result.graph.nodes]
    assert ops.count("qcfs") == 3
    assert not {"floor", "clip", "affine"} & set(ops)
    qcfs = [n for n in result.graph.nodes if n.op == "qcfs"]
    assert [n.levels for n in qcfs] == [3, 3, 3] and all(n.shift == 0.5 for n in qcfs)
    theta1 = result.graph.constants[qcfs[0].theta]
    assert theta1.shape == ((4, 1, 1) if per_channel else ())
    np.testing.assert_allclose(result.graph.constants[qcfs[1].theta], 1.7, rtol=1e-6)
    x = inputs(200)
    np.testing.assert_allclose(run(result.graph, x)[result.graph.outputs[0]], onnxruntime_run(model, x), atol=1e-5)


def test_qcfs_reads_the_bn_output_and_folds_after():
    graph = PassManager("match-qcfs,fold-bn,fold-affine").run(_import(qcfs_cnn(7)), PassContext())
    first = graph.node(graph.node_map()["q1_floor"].inputs[0])
    assert first.op == "conv" and first.name == "conv1"


def test_off_grid_pre_scale_keeps_an_affine():
    """floor(z * 3 / lam + 0.25) is QCFS on a rescaled z with shift 0.25: the pass stays exact."""
    init = {"w": np.eye(4, dtype=np.float32), "gain": np.array(3.0 / 1.5, np.float32),
            "off": np.array(0.25, np.float32), "zero": np.array(0.0, np.float32), "L": np.array(4.0, np.float32),
            "step": np.array(1.5 / 4.0, np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
             helper.make_node("Mul", ["h", "gain"], ["m"], name="mul"),
             helper.make_node("Add", ["m", "off"], ["a"], name="add"),
             helper.make_node("Floor", ["a"], ["f"], name="floor"),
             helper.make_node("Clip", ["f", "zero", "L"], ["c"], name="clip"),
             helper.make_node("Mul", ["c", "step"], ["y"], name="scale")]
    model = make_model(nodes, [4], [4], init)
    result = match_qcfs(_import(model), PassContext())
    ops = [n.op for n in result.graph.nodes]
    assert ops == ["input", "dense", "affine", "qcfs"]
    q = result.graph.nodes[-1]
    assert q.levels == 4
    np.testing.assert_allclose(result.graph.constants[q.theta], 1.5, rtol=1e-6)
    x = np.random.default_rng(0).uniform(-1, 3, (500, 4)).astype(np.float32)
    np.testing.assert_allclose(run(result.graph, x)[result.graph.outputs[0]], onnxruntime_run(model, x), atol=1e-5)


def _floor_then(tail_nodes, init):
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
             helper.make_node("Floor", ["h"], ["f"], name="floor")] + tail_nodes
    init = {"w": np.eye(4, dtype=np.float32), **init}
    return make_model(nodes, [4], [4], init)


@pytest.mark.parametrize("case", ["relu", "shifted_clip", "negative_lo", "read_twice"])
def test_must_not_fire(case):
    zero, one = np.array(0.0, np.float32), np.array(1.0, np.float32)
    if case == "relu":          # floor then relu: no upper clip, not QCFS
        model = _floor_then([helper.make_node("Relu", ["f"], ["y"], name="relu")], {})
    elif case == "shifted_clip":  # an offset between Floor and Clip
        model = _floor_then([helper.make_node("Add", ["f", "o"], ["g"], name="add"),
                             helper.make_node("Clip", ["g", "z", "one"], ["y"], name="clip")],
                            {"o": np.array(0.3, np.float32), "z": zero, "one": one})
    elif case == "negative_lo":
        model = _floor_then([helper.make_node("Clip", ["f", "lo", "one"], ["y"], name="clip")],
                            {"lo": np.array(-1.0, np.float32), "one": one})
    else:                       # the floor's value is also read by another op
        model = _floor_then([helper.make_node("Clip", ["f", "z", "one"], ["c"], name="clip"),
                             helper.make_node("Add", ["c", "f"], ["y"], name="add")], {"z": zero, "one": one})
    graph = _import(model)
    ctx = PassContext()
    result = match_qcfs(graph, ctx)
    assert not result.modified
    assert [n.op for n in result.graph.nodes] == [n.op for n in graph.nodes]
    assert any("not matched" in line for line in ctx.log)


def test_plain_clip_becomes_bounded_relu_only_when_asked():
    model = make_model([helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
                        helper.make_node("Clip", ["h", "z", "six"], ["y"], name="relu6")], [4], [4],
                       {"w": np.eye(4, dtype=np.float32), "z": np.array(0.0, np.float32),
                        "six": np.array(6.0, np.float32)})
    graph = _import(model)
    assert not match_qcfs(graph, PassContext()).modified
    result = match_qcfs(graph, PassContext(), clip=True)
    node = result.graph.node("relu6")
    assert node.op == "bounded_relu" and float(result.graph.constants[node.theta]) == 6.0
    x = np.random.default_rng(0).uniform(-8, 8, (100, 4)).astype(np.float32)
    np.testing.assert_array_equal(run(result.graph, x)["relu6"], onnxruntime_run(model, x))


def test_every_coding_canonicalizes_qcfs():
    from snncc.pipeline import CANONICALIZE

    passes = CANONICALIZE.split(",")
    assert "match-qcfs" in passes and passes.index("match-qcfs") < passes.index("fold-bn")


def test_unmatched_floor_is_a_clear_error():
    from snncc import compile as snncc_compile
    from snncc.errors import PassError

    model = _floor_then([helper.make_node("Relu", ["f"], ["y"], name="relu")], {})
    with pytest.raises(PassError, match="Floor that is not part of a QCFS activation"):
        snncc_compile(model, "bits", timesteps=2, calibration=np.zeros((4, 4), np.float32))
    # qcfs_nodes is the pattern the error message tells the user to export
    assert len(qcfs_nodes("x", "y", "lam", 3, "t", {"lam": np.array(1.0, np.float32)})) == 7


@settings(max_examples=25, deadline=None)
@given(levels=st.integers(1, 31), lam=st.floats(0.25, 8.0), variant=st.sampled_from(["torch", "commuted"]),
       seed=st.integers(0, 2**16))
def test_property_match_is_exact_and_reads_lam_and_l(levels, lam, variant, seed):
    """Any lam > 0, L >= 1 and either export grouping: one qcfs node with theta = lam and levels = L, and the
    matched graph computes what onnxruntime computes (one level apart at most on a float32 rounding boundary)."""
    init = {"w": np.random.default_rng(seed).normal(0, 1, (6, 6)).astype(np.float32),
            "lam": np.array(lam, np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1)]
    nodes += qcfs_nodes("h", "y", "lam", levels, "q", init, variant)
    model = make_model(nodes, [6], [6], init)
    result = match_qcfs(_import(model), PassContext())
    (node,) = [n for n in result.graph.nodes if n.op == "qcfs"]
    assert node.levels == levels
    np.testing.assert_allclose(result.graph.constants[node.theta], np.float32(lam), rtol=1e-6)
    x = np.random.default_rng(seed + 1).uniform(-2, 2, (64, 6)).astype(np.float32) * np.float32(lam)
    diff = np.abs(run(result.graph, x)[result.graph.outputs[0]] - onnxruntime_run(model, x))
    step = np.float32(lam) / levels
    assert np.all((diff < 1e-5 * max(1.0, lam)) | (np.abs(diff - step) < 1e-4 * max(1.0, lam)))
    assert np.mean(diff < 1e-5 * max(1.0, lam)) >= 0.99
