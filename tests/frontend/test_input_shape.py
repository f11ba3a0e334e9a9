"""Dynamic spatial axes: sized by --input-shape (per input) or by the calibration data; a clear error otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import snncc
from snncc.cli import main
from snncc.errors import OptionError, UnsupportedModelError
from snncc.frontend import onnx_to_ir
from snncc.frontend.input_shape import parse_input_shape
from snncc.ir import run
from snncc.compiler import load_model
from tests.helpers import onnxruntime_run, rand


def dynamic_cnn():
    """Conv -> ReLU -> GlobalAveragePool -> Flatten -> Gemm on an N x 3 x H x W input."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc")]
    inits = [numpy_helper.from_array(rand(4, 3, 3, 3, seed=1), "w"), numpy_helper.from_array(rand(4, 5, seed=2), "fc")]
    model = helper.make_model(helper.make_graph(nodes, "dyn", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_unknown_size_names_the_option():
    with pytest.raises(UnsupportedModelError, match=r"axis 2 is dynamic \(H\).*--input-shape x=1x3xHxW"):
        onnx_to_ir(load_model(dynamic_cnn()))


def test_input_shape_sizes_the_dynamic_axes():
    graph = onnx_to_ir(load_model(dynamic_cnn(), {"x": (1, 3, 12, 10)}))
    assert graph.inputs[0].type.shape == (3, 12, 10)
    x = rand(4, 3, 12, 10, seed=3)
    np.testing.assert_allclose(run(graph, x)[graph.outputs[0]], onnxruntime_run(dynamic_cnn(), x), rtol=1e-4,
                               atol=1e-5)


def test_calibration_data_gives_the_shape():
    calib = np.abs(rand(16, 3, 8, 8, seed=4))
    snn = snncc.compile(dynamic_cnn(), "rate", timesteps=8, calibration=calib)
    assert snn.inputs[0].type.shape == (3, 8, 8)


@pytest.mark.parametrize("shapes, message", [
    ({"z": (1, 3, 8, 8)}, "not an input"),
    ({"x": (1, 3, 8)}, "has rank 4"),
    ({"x": (1, 4, 8, 8)}, "axis 1 of input 'x' is fixed at 3"),
])
def test_wrong_shapes_are_option_errors(shapes, message):
    with pytest.raises(OptionError, match=message):
        load_model(dynamic_cnn(), shapes)


def test_parse():
    assert parse_input_shape("x=1x3x224x224") == ("x", (1, 3, 224, 224))
    assert parse_input_shape("1,3,8,8") == (None, (1, 3, 8, 8))
    with pytest.raises(OptionError, match="NAME=DIMS"):
        parse_input_shape("x=1x3xHxW")


def test_cli_compile_with_input_shape(tmp_path, capsys):
    path = tmp_path / "dyn.onnx"
    path.write_bytes(dynamic_cnn().SerializeToString())
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.abs(rand(8, 3, 6, 6, seed=5)))
    out = tmp_path / "dyn.snnir"
    assert main(["compile", str(path), "-o", str(out), "--no-progress", "--calib", str(calib),
                 "--input-shape", "x=1x3x6x6"]) == 0
    assert main(["compile", str(path), "-o", str(out), "--no-progress", "--calib", str(calib),
                 "--input-shape", "x=1x3xHxW"]) == 2
    assert "--input-shape" in capsys.readouterr().err


def test_the_suggested_shape_keeps_a_fixed_leading_axis():
    """A recurrent state is (layers, batch, hidden) = 2 x ? x 128: the example must not write its fixed 2 as 1."""
    state = helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, "batch", 4])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["state"], ["y"])], "s", [state], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with pytest.raises(UnsupportedModelError, match=r"--input-shape state=2xbatchx4 "):
        onnx_to_ir(load_model(model))
