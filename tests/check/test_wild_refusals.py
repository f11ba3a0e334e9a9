"""Ops third-party models bring that no coding can express: `check` (and compile's error) says which node, why no
spiking layer computes it, and what kind of model would work, instead of a bare "no converter"."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from snncc.check import BLOCKED, check_model
from snncc.errors import UnsupportedModelError
from snncc.frontend import onnx_to_ir, prepare
from tests.helpers import make_model, onnxruntime_run, rand


def _conv_then(nodes, inits=None, shape=(2, 4, 4)):
    head = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
            helper.make_node("Relu", ["c"], ["r"], name="relu")]
    return make_model(head + nodes, shape, None, {"w": rand(2, 2, 3, 3), **(inits or {})})


def _only_blocker(model, **kwargs):
    report = check_model(model, **kwargs)
    assert all(v.status == BLOCKED for v in report.verdicts)
    blockers = report.verdicts[0].blockers
    assert len(blockers) == 1
    return blockers[0], report.verdicts[0].suggestion


def test_lrn_says_it_divides_by_the_neighbours_energy():
    blocker, suggestion = _only_blocker(_conv_then([helper.make_node("LRN", ["r"], ["y"], size=3, name="norm1")]))
    assert (blocker.node, blocker.op) == ("norm1", "LRN")
    assert "local response normalisation" in blocker.why and "no converter" not in blocker.why
    assert "without LRN" in suggestion


def test_decomposed_layer_norm_is_named_as_such():
    """PP-OCR's SVTR recogniser writes LayerNorm as ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]), helper.make_node("Sub", ["x", "m"], ["d"]),
             helper.make_node("Pow", ["d", "two"], ["sq"]), helper.make_node("ReduceMean", ["sq"], ["v"], axes=[-1]),
             helper.make_node("Add", ["v", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["s"], name="ln.sqrt"),
             helper.make_node("Div", ["d", "s"], ["y"])]
    model = make_model(nodes, (4, 8), (4, 8), {"two": np.float32(2.0), "eps": np.float32(1e-5)}, opset=13)
    blocker, suggestion = _only_blocker(model)
    assert blocker.node == "ln.sqrt" and "layer normalisation" in blocker.why and "BatchNorm" in suggestion


def test_a_recurrent_layer_is_named_as_such():
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["t", "W", "R"], ["y"], hidden_size=3, name="lstm")]
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 4])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 1, 1, 3])
    graph = helper.make_graph(nodes, "rnn", [inp], [out], initializer=[
        helper.make_tensor("W", TensorProto.FLOAT, [1, 12, 4], rand(1, 12, 4).ravel()),
        helper.make_tensor("R", TensorProto.FLOAT, [1, 12, 3], rand(1, 12, 3).ravel())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    blocker, suggestion = _only_blocker(model)
    assert blocker.op == "LSTM" and "recurrent" in blocker.why and "feed-forward" in suggestion


def test_a_quantised_graph_asks_for_the_float_model():
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq")]
    model = make_model(nodes, (4,), (4,), {"s": np.float32(0.1), "z": np.uint8(128)})
    report = check_model(model)
    assert {b.op for b in report.verdicts[0].blockers} == {"QuantizeLinear", "DequantizeLinear"}
    assert report.verdicts[0].suggestion == "compile the float model it was quantised from"


def test_compile_error_carries_the_reason():
    model = _conv_then([helper.make_node("LRN", ["r"], ["y"], size=3, name="norm1")])
    with pytest.raises(UnsupportedModelError, match="local response normalisation"):
        onnx_to_ir(prepare(model))


def test_a_float_cast_is_the_identity_and_an_integer_cast_is_refused_with_why():
    model = _conv_then([helper.make_node("Cast", ["r"], ["y"], to=TensorProto.FLOAT)])
    x = rand(2, 2, 4, 4)
    graph = onnx_to_ir(prepare(model))
    from snncc.ir import run

    np.testing.assert_allclose(run(graph, x)[graph.outputs[0]], onnxruntime_run(model, x), atol=1e-5)
    nodes = [helper.make_node("Cast", ["r"], ["i"], to=TensorProto.INT32, name="to_int"),
             helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT)]
    blocker, _ = _only_blocker(_conv_then(nodes))
    assert blocker.node == "to_int" and "INT32" in blocker.why and "rounds" in blocker.why


def test_an_unknown_per_element_function_points_to_a_user_gate():
    blocker, suggestion = _only_blocker(_conv_then([helper.make_node("Softplus", ["r"], ["y"], name="sp")]))
    assert blocker.op == "Softplus" and "per-element" in blocker.why
    assert "--coding amos" in suggestion and "register_gate" in suggestion


def test_check_holds_no_batch_but_says_when_compile_will_refuse_the_size():
    """A 640x640 text detector (PP-OCRv6) was refused by `check` itself for the memory compile's batch of 256
    would need; the check runs nothing, so it answers, and notes what compile will refuse."""
    from snncc.errors import ResourceLimitError
    from snncc.limits import memory_cap
    import snncc

    model = _conv_then([helper.make_node("Relu", ["r"], ["y"])], shape=(2, 64, 64))   # 2x64x64 floats = 32 KiB
    with memory_cap("4M"):
        report = check_model(model)
        assert report.verdict("rate").status == "works"
        assert any("compile will refuse" in n and "256 samples" in n for n in report.notes)
        with pytest.raises(ResourceLimitError):
            snncc.compile(model, coding="rate", calibration=np.abs(rand(4, 2, 64, 64)))
    assert not check_model(model).notes


def test_check_sizes_dynamic_axes_from_the_calibration_file_like_compile(tmp_path, capsys):
    """PP-OCR's direction classifier declares ?x3x?x?: compile takes the size from MODEL.calib.npz next to it, and
    so does check (only the file's header is read); --calib names another file."""
    from snncc.cli import main
    from tests.frontend.test_input_shape import dynamic_cnn

    path = tmp_path / "dyn.onnx"
    path.write_bytes(dynamic_cnn().SerializeToString())
    other = tmp_path / "pages.npz"
    np.savez(other, x=np.zeros((2, 3, 12, 12), np.float32))
    assert main(["check", str(path), "--coding", "rate", "--calib", str(other)]) == 0
    assert "input x sized 1x3x12x12 by the calibration data" in capsys.readouterr().out
    np.savez(tmp_path / "dyn.calib.npz", x=np.zeros((2, 3, 16, 16), np.float32))
    assert main(["check", str(path), "--coding", "rate"]) == 0
    out = capsys.readouterr().out
    assert "1x3x16x16 by the calibration data" in out and "rate    works" in out
    assert main(["check", str(path), "--coding", "rate", "--input-shape", "x=1x3x8x8"]) == 0
    assert "calibration" not in capsys.readouterr().out


def test_unnamed_dynamic_axes_get_placeholders_not_question_marks(capsys, tmp_path):
    """Paddle exports declare -1x3x?x?; the advice used to read --input-shape x=1x3x?x?, which does not parse."""
    from snncc.cli import main
    from tests.frontend.test_input_shape import dynamic_cnn

    model = dynamic_cnn()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param = "?"
    dims[3].Clear()
    path = tmp_path / "paddle.onnx"
    path.write_bytes(model.SerializeToString())
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "--input-shape x=1x3xD2xD3" in err and "--calib" in err


def _rnn_with_state(seq="T"):
    """silero-vad's interface: audio (N x T), a recurrent state (2 x N x 4) and an integer sample rate; an If picks
    the branch by the rate."""
    then_g = helper.make_graph([helper.make_node("Relu", ["audio"], ["b"])], "then", [],
                               [helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", seq])])
    else_g = helper.make_graph([helper.make_node("Neg", ["audio"], ["b2"])], "else", [],
                               [helper.make_tensor_value_info("b2", TensorProto.FLOAT, ["N", seq])])
    nodes = [helper.make_node("Equal", ["sr", "k16"], ["is16"], name="is16"),
             helper.make_node("If", ["is16"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)]
    inputs = [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["N", seq]),
              helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "N", 4]),
              helper.make_tensor_value_info("sr", TensorProto.INT64, [])]
    graph = helper.make_graph(nodes, "vad", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", seq])],
                              [helper.make_tensor("k16", TensorProto.INT64, [], [16000])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_control_flow_and_an_integer_setting_are_named_before_any_size_is_asked_for():
    report = check_model(_rnn_with_state())
    assert all(v.status == BLOCKED for v in report.verdicts)
    stops = {(b.node, b.op) for b in report.verdicts[0].blockers}
    assert stops == {("sr", "input"), ("branch", "If")}
    why = {b.op: b.why for b in report.verdicts[0].blockers}
    assert "control flow" in why["If"] and "scalar integer setting" in why["input"]
    assert report.verdicts[0].suggestion.startswith("no coding can")


def test_a_blocker_no_coding_lifts_gives_the_suggestion():
    """Sqrt alone would suggest amos with a registered gate; an LSTM beside it means no coding can."""
    lstm = [helper.make_node("Sqrt", ["r"], ["s"], name="sqrt"),
            helper.make_node("Reshape", ["s", "shape"], ["t"]),
            helper.make_node("LSTM", ["t", "W", "R"], ["y"], hidden_size=3, name="lstm")]
    inits = {"shape": np.array([2, 1, 8], np.int64), "W": rand(1, 12, 8), "R": rand(1, 12, 3)}
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, "H", "W"])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 1, 1, 3])
    from onnx import numpy_helper
    head = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"])]
    graph = helper.make_graph(head + lstm, "m", [x], [out], [numpy_helper.from_array(rand(2, 2, 3, 3), "w")] +
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    report = check_model(model)
    assert [b.op for b in report.verdicts[0].blockers][:1] == ["LSTM"]
    assert "feed-forward" in report.verdicts[0].suggestion


def test_integer_ids_as_input_are_the_reason_not_the_ops_that_decode_them():
    """magika reads 2048 bytes as INT32 and one-hot encodes them with Equal: the input is why, not the Equal."""
    nodes = [helper.make_node("Cast", ["ids"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["f", "w"], ["y"])]
    graph = helper.make_graph(nodes, "ids", [helper.make_tensor_value_info("ids", TensorProto.INT32, ["N", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor("w", TensorProto.FLOAT, [8, 3], rand(8, 3).ravel())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    blocker, suggestion = _only_blocker(model)
    assert (blocker.node, blocker.op) == ("ids", "input") and "integer ids" in blocker.why
    assert suggestion.startswith("no coding can") and "float input" in suggestion
    with pytest.raises(UnsupportedModelError, match="integer ids"):
        onnx_to_ir(prepare(model))
