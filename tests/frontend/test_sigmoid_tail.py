"""A final elementwise Sigmoid (a detector's class scores), followed only by reshapes/transposes, is part of the
output tail: the SNN computes the logits, the header lists the outputs it ends, and the readout applies it exactly."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import snncc
from snncc.check import BLOCKED, WORKS, check_model
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import run
from snncc.readout import read_output, sigmoid_outputs
from tests.helpers import make_model, onnxruntime_run, rand

WEIGHTS = {"w1": rand(4, 3, 3, 3, seed=1), "w2": rand(6, 4, 1, 1, seed=2),
           "flat": np.array([0, 6, -1], np.int64)}
TRUNK = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
         helper.make_node("Conv", ["r1", "w2"], ["z"], name="conv2")]
# PicoDet's score maps: conv -> Sigmoid -> Reshape (N, C, HW) -> Transpose (N, HW, C)
SCORES = [helper.make_node("Sigmoid", ["z"], ["s"], name="scores"),
          helper.make_node("Reshape", ["s", "flat"], ["f"], name="flatten"),
          helper.make_node("Transpose", ["f"], ["y"], name="anchors", perm=[0, 2, 1])]


def _score_model() -> onnx.ModelProto:
    return make_model([*TRUNK, *SCORES], [3, 5, 5], [25, 6], WEIGHTS)


def test_output_sigmoid_is_dropped_and_recorded():
    model = _score_model()
    graph = onnx_to_ir(prepare(model))
    assert graph.meta["dropped_tail"] == "Sigmoid 'scores'"
    assert graph.meta["sigmoid_outputs"] == "0"
    assert "sigmoid" not in {n.op for n in graph.nodes}
    x = rand(16, 3, 5, 5, seed=3)
    logits = run(graph, x)[graph.outputs[0]]
    reference = onnxruntime_run(model, x)
    assert logits.shape == reference.shape and logits.min() < 0      # logits, not scores
    np.testing.assert_allclose(read_output(graph.meta, 0, logits), reference, atol=1e-5)


def test_sigmoid_inside_the_network_is_kept():
    nodes = [*TRUNK, helper.make_node("Sigmoid", ["z"], ["s"], name="gate"),
             helper.make_node("Conv", ["s", "w3"], ["y"], name="conv3")]
    graph = onnx_to_ir(prepare(make_model(nodes, [3, 5, 5], [2, 5, 5], {**WEIGHTS, "w3": rand(2, 6, 1, 1, seed=4)})))
    assert "sigmoid" in {n.op for n in graph.nodes}
    assert "dropped_tail" not in graph.meta and not sigmoid_outputs(graph.meta)


def test_only_the_outputs_ending_in_a_sigmoid_are_listed():
    """Two heads as in a detector: boxes (plain conv) first, scores (Sigmoid) second."""
    nodes = [*TRUNK, helper.make_node("Identity", ["z"], ["boxes"], name="boxes"), *SCORES]
    outs = [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 6, 5, 5]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 25, 6])]
    graph_proto = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                ["N", 3, 5, 5])], outs,
                                    initializer=[numpy_helper.from_array(v, k) for k, v in WEIGHTS.items()])
    model = helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    graph = onnx_to_ir(prepare(model))
    assert sigmoid_outputs(graph.meta) == {1}
    x = rand(4, 3, 5, 5, seed=5)
    values = run(graph, x)
    import onnxruntime as ort

    reference = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for index, (name, ref) in enumerate(zip(graph.outputs, reference)):
        np.testing.assert_allclose(read_output(graph.meta, index, values[name]), ref, atol=1e-5)


def test_old_headers_read_as_no_sigmoid():
    y = np.array([[-1.0, 2.0]], np.float32)
    assert read_output({"dropped_tail": "Softmax 'sm'"}, 1, y) is y
    assert read_output({}, 0, y) is y


@pytest.mark.parametrize("coding", ["rate", "amos"])
def test_score_model_compiles_with_the_sigmoid_at_readout(tmp_path, coding):
    """calibrate's cross-check compares with onnxruntime's scores: it passes because the readout re-applies the
    Sigmoid (before, the rate coding refused the sigmoid gate and amos fitted a circuit for it)."""
    path = tmp_path / "scores.onnx"
    onnx.save(_score_model(), path)
    options = {"timesteps": 8} if coding == "rate" else {}
    graph = snncc.compile(str(path), coding, calibration=rand(32, 3, 5, 5, seed=6), **options)
    assert graph.meta["dropped_tail"] == "Sigmoid 'scores'" and graph.meta["sigmoid_outputs"] == "0"
    assert not any(getattr(n, "gate", None) == "sigmoid" for n in graph.nodes)


def test_check_no_longer_lists_an_output_sigmoid():
    report = check_model(_score_model(), ["rate", "amos"])
    assert report.verdict("rate").status == WORKS and report.verdict("amos").status == WORKS
    assert any("Sigmoid 'scores'" in note for note in report.notes)
    inner = [*TRUNK, helper.make_node("Sigmoid", ["z"], ["s"], name="gate"),
             helper.make_node("Conv", ["s", "w3"], ["y"], name="conv3")]
    kept = check_model(make_model(inner, [3, 5, 5], [2, 5, 5], {**WEIGHTS, "w3": rand(2, 6, 1, 1, seed=4)}),
                       ["rate"])
    assert kept.verdict("rate").status == BLOCKED and {b.op for b in kept.verdict("rate").blockers} == {"sigmoid"}
