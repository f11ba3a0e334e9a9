"""PReLU (MTCNN's P/R/O-Nets, ArcFace) as relu(x) - a * relu(-x): two ReLU populations and a linear join, so every
coding that check says works compiles it and agrees with onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import snncc
from snncc.backends.simulator import simulate
from snncc.check import WORKS, check_model
from snncc.coding_steps import default_timesteps
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import run
from tests.helpers import onnxruntime_run, rand


def prelu_net(per_channel: bool = True) -> onnx.ModelProto:
    """Conv -> PReLU -> MaxPool -> Conv -> PReLU -> GAP -> Gemm, slopes per channel (C, 1, 1) or one scalar."""
    nodes = [helper.make_node("Conv", ["x", "w0"], ["c0"], pads=[1, 1, 1, 1]),
             helper.make_node("PRelu", ["c0", "a0"], ["p0"], name="prelu0"),
             helper.make_node("MaxPool", ["p0"], ["m0"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["m0", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("PRelu", ["c1", "a1"], ["p1"], name="prelu1"),
             helper.make_node("GlobalAveragePool", ["p1"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["y"])]
    a0 = np.abs(rand(4, 1, 1, seed=5)) * 0.3 if per_channel else np.array([0.25], np.float32)
    inits = {"w0": rand(4, 3, 3, 3, seed=1), "a0": a0, "w1": rand(6, 4, 3, 3, seed=2),
             "a1": np.abs(rand(6, 1, 1, seed=6)) * 0.3, "fc": rand(6, 5, seed=3)}
    graph = helper.make_graph(nodes, "prelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
                              [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("per_channel", [True, False])
def test_prelu_converts_exactly(per_channel):
    model = prelu_net(per_channel)
    graph = onnx_to_ir(prepare(model))
    x = rand(6, 3, 8, 8, seed=7)
    np.testing.assert_allclose(run(graph, x)[graph.outputs[0]], onnxruntime_run(model, x), rtol=1e-5, atol=1e-5)


def test_every_coding_check_passes_compiles_and_rate_agrees(tmp_path):
    path = tmp_path / "prelu.onnx"
    onnx.save(prelu_net(), path)
    works = [v.coding for v in check_model(path).verdicts if v.status == WORKS]
    assert "rate" in works
    x = rand(64, 3, 8, 8, seed=8)
    ann = onnxruntime_run(prelu_net(), x).argmax(1)
    for coding in works:
        snncc.compile(path, coding, calibration=x[:32], timesteps=default_timesteps(coding))  # "works" holds
    snn = snncc.compile(path, "rate", calibration=x[:32], timesteps=128)
    agree = (simulate(snn, x, 128).predictions[128] == ann).mean()
    assert agree >= 0.9
