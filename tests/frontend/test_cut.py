"""`--outputs`: a detector whose graph ends in box decoding (YOLOv8's DFL Softmax) compiles up to its raw head maps;
`check` proposes the cut, and eval compares with onnxruntime on the model cut the same way."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import snncc
from snncc.check import BLOCKED, WORKS, check_model
from snncc.errors import OptionError
from snncc.evaluate import ann_reference
from snncc.frontend import onnx_to_ir
from snncc.frontend.cut import cut_outputs, parse_outputs
from snncc.frontend.load import prepare, run_onnxruntime
from snncc.ir import run
from tests.helpers import rand

BINS, CLASSES, HW = 4, 3, 16
RAW = "head.cat.flat"


def yolov8_like() -> onnx.ModelProto:
    """Conv-ReLU backbone; box (4 x BINS) and class (CLASSES) convs concatenated and flattened to (N, 4*BINS+C, HW),
    then the head's decoding: Split, Reshape (N, 4, BINS, HW) -> Transpose -> Softmax over the bins -> a 1x1 conv
    with the fixed weights 0..BINS-1 (the expectation), Sigmoid on the classes, Concat."""
    nodes = [helper.make_node("Conv", ["x", "w0"], ["c0"], pads=[1, 1, 1, 1], name="stem"),
             helper.make_node("Relu", ["c0"], ["r0"], name="stem.act"),
             helper.make_node("Conv", ["r0", "wb"], ["box"], name="head.box"),
             helper.make_node("Conv", ["r0", "wc"], ["cls"], name="head.cls"),
             helper.make_node("Concat", ["box", "cls"], ["cat"], axis=1, name="head.cat"),
             helper.make_node("Reshape", ["cat", "flat_shape"], [RAW], name="head.flat"),
             helper.make_node("Split", [RAW, "sizes"], ["b", "k"], axis=1, name="head.split"),
             helper.make_node("Reshape", ["b", "bin_shape"], ["b4"], name="dfl.reshape"),
             helper.make_node("Transpose", ["b4"], ["bt"], perm=[0, 2, 1, 3], name="dfl.transpose"),
             helper.make_node("Softmax", ["bt"], ["p"], axis=1, name="dfl.softmax"),
             helper.make_node("Conv", ["p", "arange"], ["e"], name="dfl.conv"),
             helper.make_node("Reshape", ["e", "box_shape"], ["d"], name="dfl.out"),
             helper.make_node("Sigmoid", ["k"], ["s"], name="cls.sigmoid"),
             helper.make_node("Concat", ["d", "s"], ["y"], axis=1, name="decode.cat")]
    inits = {"w0": rand(4, 2, 3, 3, seed=1), "wb": rand(4 * BINS, 4, 1, 1, seed=2),
             "wc": rand(CLASSES, 4, 1, 1, seed=3), "flat_shape": np.array([0, 4 * BINS + CLASSES, HW], np.int64),
             "sizes": np.array([4 * BINS, CLASSES], np.int64), "bin_shape": np.array([0, 4, BINS, HW], np.int64),
             "arange": np.arange(BINS, dtype=np.float32).reshape(1, BINS, 1, 1),
             "box_shape": np.array([0, 4, HW], np.int64)}
    graph = helper.make_graph(nodes, "yolo", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4 + CLASSES, HW])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_check_proposes_the_cut_before_the_box_decoding():
    report = check_model(yolov8_like())
    verdict = report.verdicts[0]
    assert verdict.status == BLOCKED and verdict.blockers[0].node == "dfl.softmax"
    assert "--outputs cat " in verdict.suggestion     # up through the reshapes to the head maps' concat
    cut = check_model(yolov8_like(), outputs=("cat",))
    assert {v.coding: v.status for v in cut.verdicts}["rate"] == WORKS


def test_the_cut_graph_converts_and_agrees_with_onnxruntime_on_the_cut_tensor(tmp_path):
    path = tmp_path / "yolo.onnx"
    onnx.save(yolov8_like(), path)
    graph = onnx_to_ir(prepare(yolov8_like(), outputs=(RAW,)))
    x = rand(5, 2, 4, 4, seed=4)
    reference = run_onnxruntime(path, x, outputs=(RAW,))
    assert reference.shape == (5, 4 * BINS + CLASSES, HW)
    np.testing.assert_allclose(run(graph, x)[graph.outputs[0]], reference, rtol=1e-5, atol=1e-5)


def test_compile_records_the_cut_and_eval_compares_on_it(tmp_path):
    path = tmp_path / "yolo.onnx"
    onnx.save(yolov8_like(), path)
    x = np.abs(rand(8, 2, 4, 4, seed=5))
    snn = snncc.compile(path, "rate", timesteps=8, calibration=x, outputs=(RAW,))
    assert snn.meta["outputs"] == RAW
    notes: list[str] = []
    ann = ann_reference(snn, x, notes)
    assert notes == [] and ann.shape == (8, 4 * BINS + CLASSES, HW)


def test_unknown_and_repeated_names_are_option_errors():
    with pytest.raises(OptionError, match=r"did you mean 'head.cat.flat'"):
        cut_outputs(prepare(yolov8_like()), ("head.cat.flt",))
    with pytest.raises(OptionError, match="twice"):
        parse_outputs("a,a")
    assert parse_outputs(None) == () and parse_outputs(" a, b ") == ("a", "b")


def test_no_cut_is_proposed_for_a_blocker_inside_the_network():
    """A LayerNorm's Sqrt mid-network is not post-processing: cutting there would drop the network itself."""
    from tests.check.test_wild_refusals import _only_blocker
    from tests.helpers import make_model

    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]), helper.make_node("Sub", ["x", "m"], ["d"]),
             helper.make_node("Mul", ["d", "d"], ["sq"]), helper.make_node("ReduceMean", ["sq"], ["v"], axes=[-1]),
             helper.make_node("Sqrt", ["v"], ["s"], name="ln.sqrt"), helper.make_node("Div", ["d", "s"], ["y"])]
    blocker, suggestion = _only_blocker(make_model(nodes, (4, 8), (4, 8), opset=13))
    assert "--outputs" not in suggestion


def test_a_shape_tensor_is_no_cut():
    """YOLOv8's `/model.22/Concat_3` is a shape (Shape -> Gather -> Unsqueeze -> Concat), not its head maps."""
    model = yolov8_like()
    model.graph.node.extend([helper.make_node("Shape", ["cat"], ["cat_shape"], name="shape"),
                             helper.make_node("Concat", ["cat_shape", "sizes"], ["shape_cat"], axis=0)])
    with pytest.raises(OptionError, match="computed from sizes or constants only"):
        cut_outputs(prepare(model, input_shapes={"x": (1, 2, 4, 4)}), ("shape_cat",))
