"""A tail that only normalises or reshapes the logits after the last linear layer is dropped, argmax unchanged,
in each spelling exporters and the 11 -> 13 version converter write it."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from snncc.errors import UnsupportedModelError
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import run
from tests.helpers import make_model, onnxruntime_run, rand

W = rand(6, 4, seed=1)
GEMM = helper.make_node("Gemm", ["x", "w"], ["z"], name="fc")


def _model(tail, output_shape, opset=17):
    return make_model([GEMM, *tail], [6], output_shape, {"w": W, **_SHAPES}, opset=opset)


_SHAPES = {"col": np.array([-1, 4, 1], np.int64), "flat": np.array([-1, 4], np.int64),
           "pair": np.array([-1, 2, 2], np.int64)}

SPELLINGS = {
    "softmax": ([helper.make_node("Softmax", ["z"], ["y"], name="sm")], [4]),
    "logsoftmax": ([helper.make_node("LogSoftmax", ["z"], ["y"], name="lsm")], [4]),
    "softmax-identity": ([helper.make_node("Softmax", ["z"], ["p"], name="sm"),
                          helper.make_node("Identity", ["p"], ["y"], name="id")], [4]),
    "flatten-softmax-reshape": ([helper.make_node("Flatten", ["z"], ["f"], name="flat", axis=1),
                                 helper.make_node("Softmax", ["f"], ["p"], name="sm", axis=1),
                                 helper.make_node("Reshape", ["p", "flat"], ["y"], name="back")], [4]),
    "reshape-softmax-transpose": ([helper.make_node("Reshape", ["z", "col"], ["c"], name="col"),
                                   helper.make_node("Softmax", ["c"], ["p"], name="sm", axis=1),
                                   helper.make_node("Transpose", ["p"], ["y"], name="t", perm=[0, 2, 1])], [1, 4]),
    # MTCNN's PNet (keras2onnx): NCHW -> NHWC, then a Softmax over the channels, now the last axis
    "transpose-softmax": ([helper.make_node("Reshape", ["z", "pair"], ["c"], name="pair"),
                           helper.make_node("Transpose", ["c"], ["t"], name="nhwc", perm=[0, 2, 1]),
                           helper.make_node("Softmax", ["t"], ["y"], name="sm", axis=-1)], [2, 2]),
    # a Softmax over the channels, then the channels moved to the last axis
    "softmax-transpose-to-last": ([helper.make_node("Reshape", ["z", "pair"], ["c"], name="pair"),
                                   helper.make_node("Softmax", ["c"], ["p"], name="sm", axis=1),
                                   helper.make_node("Transpose", ["p"], ["y"], name="nhwc", perm=[0, 2, 1])], [2, 2]),
}


def _check(model, dropped):
    graph = onnx_to_ir(prepare(model))
    x = rand(64, 6, seed=2)
    ours = run(graph, x)[graph.outputs[0]]
    ref = onnxruntime_run(model, x)
    assert ours.shape[1:] == ref.shape[1:]
    np.testing.assert_array_equal(ours.argmax(-1), ref.argmax(-1))
    assert graph.meta["dropped_tail"] == dropped


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_tail_is_dropped(spelling):
    nodes, shape = SPELLINGS[spelling]
    normaliser = next(n for n in nodes if n.op_type.endswith("Softmax"))
    _check(_model(nodes, shape), f"{normaliser.op_type} {normaliser.name!r}")


def test_opset11_softmax_after_version_conversion():
    """opset 11's Softmax coerces its input to 2-D; converted to opset 13 it becomes Flatten -> Softmax -> Reshape,
    which was refused as "Softmax inside the network"."""
    nodes = [helper.make_node("Reshape", ["z", "image"], ["r"], name="image"),
             helper.make_node("Softmax", ["r"], ["y"], name="sm", axis=1)]
    model = make_model([GEMM, *nodes], [6], [4, 1, 1], {"w": W, "image": np.array([-1, 4, 1, 1], np.int64)},
                       opset=11)
    converted = prepare(model)
    assert [n.op_type for n in converted.graph.node if n.op_type != "Shape"][-3:] == ["Flatten", "Softmax", "Reshape"]
    graph = onnx_to_ir(converted)
    assert graph.meta["dropped_tail"].startswith("Softmax")
    x = rand(32, 6, seed=3)
    ours = run(graph, x)[graph.outputs[0]]
    np.testing.assert_array_equal(ours.reshape(32, -1).argmax(-1), onnxruntime_run(model, x).reshape(32, -1).argmax(-1))


def test_softmax_inside_the_network_is_still_refused():
    nodes = [helper.make_node("Softmax", ["z"], ["p"], name="inner"),
             helper.make_node("Gemm", ["p", "w2"], ["y"], name="fc2")]
    model = make_model([GEMM, *nodes], [6], [3], {"w": W, "w2": rand(4, 3, seed=4)})
    with pytest.raises(UnsupportedModelError, match="Softmax inside the network"):
        onnx_to_ir(prepare(model))


def test_reordering_transpose_of_the_output_is_not_read_as_a_reshape():
    nodes = [helper.make_node("Reshape", ["z", "pair"], ["c"], name="pair"),
             helper.make_node("Softmax", ["c"], ["p"], name="sm", axis=2),
             helper.make_node("Transpose", ["p"], ["y"], name="t", perm=[0, 2, 1])]
    model = make_model([GEMM, *nodes], [6], [2, 2], {"w": W, "pair": np.array([-1, 2, 2], np.int64)})
    # dropping the Softmax would change the argmax along the transposed output's last axis: refused, even though a
    # Transpose converter exists
    with pytest.raises(UnsupportedModelError, match="reorders its axes"):
        onnx_to_ir(prepare(model))


@pytest.mark.parametrize("spelling", ["softmax", "logsoftmax", "flatten-softmax-reshape", "transpose-softmax",
                                      "softmax-transpose-to-last"])
def test_compile_cross_checks_against_onnxruntime_with_the_tail_dropped(tmp_path, spelling):
    """calibrate's cross-check runs onnxruntime on the source model, which still ends in the normaliser: the IR's
    output is compared after applying it again (before, a dropped Softmax failed the cross-check)."""
    import onnx

    import snncc

    nodes, shape = SPELLINGS[spelling] if spelling in SPELLINGS else ([
        helper.make_node("Flatten", ["z"], ["f"], name="flat"),
        helper.make_node("Softmax", ["f"], ["p"], name="sm", axis=1),
        helper.make_node("Reshape", ["p", "col"], ["y"], name="back")], [4, 1])
    relu = helper.make_node("Relu", ["x0"], ["x"], name="relu")
    model = make_model([relu, GEMM, *nodes], [6], shape, {"w": W, **_SHAPES})
    model.graph.input[0].name = "x0"
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    graph = snncc.compile(str(path), "rate", timesteps=8, calibration=rand(64, 6, seed=5))
    assert "Softmax" in graph.meta["dropped_tail"]
