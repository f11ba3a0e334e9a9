"""Issue 19 item 17: fp16 and fp64 models (accepted input types; onnxruntime runs them) compile and evaluate: the
calibration and the ANN reference feed onnxruntime the model's own input type."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.robustness.util import calib, run_cli


def _model(onnx_type, np_type):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np_type), "w1"),
             numpy_helper.from_array(np.zeros(3, np_type), "b1"),
             numpy_helper.from_array(rng.standard_normal((2, 3)).astype(np_type), "w2")]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["a"], name="relu1"),
             helper.make_node("Gemm", ["a", "w2"], ["y"], name="fc2", transB=1)]
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", onnx_type, ["N", 4])],
                              [helper.make_tensor_value_info("y", onnx_type, ["N", 2])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("onnx_type, np_type", [(TensorProto.FLOAT16, np.float16), (TensorProto.DOUBLE, np.float64)])
def test_fp16_and_fp64_models_compile_and_evaluate(tmp_path, capsys, onnx_type, np_type):
    model = _model(onnx_type, np_type)
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    x = calib()
    reference = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x.astype(np_type)})[0].argmax(-1)
    np.savez(tmp_path / "d.npz", x=x, y=reference)
    code, _, err = run_cli(capsys, "compile", tmp_path / "m.onnx", "--calib", tmp_path / "d.npz", "-o",
                           tmp_path / "m.snnir", "--no-progress")
    assert code == 0, err
    code, out, err = run_cli(capsys, "eval", tmp_path / "m.snnir", "--data", tmp_path / "d.npz", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ann_accuracy"] == 1.0       # the ANN reference is onnxruntime on the model's own type
    assert report["agreement"] >= 0.9
