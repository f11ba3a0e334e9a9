"""Broken and hostile .onnx files: each is refused with a documented error naming what, where and what to do."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import snncc
from snncc.errors import ModelLoadError, ResourceLimitError, UnsupportedModelError
from snncc.frontend import load_onnx
from snncc.limits import memory_cap
from tests.helpers import make_model
from tests.robustness.util import assert_clean_failure, calib, run_cli, save_model, tiny_model


def test_the_tiny_model_compiles(tmp_path):
    # positive control: everything below fails because of the one thing it breaks
    graph = snncc.compile(save_model(tiny_model(), tmp_path / "ok.onnx"), calibration=calib())
    assert [n.op for n in graph.nodes][-1] in ("dense", "if_neuron", "affine")


@pytest.mark.parametrize("payload", [b"", b"hello, not a model\n", bytes(range(256)) * 4, b"\x08\x07\x12"])
def test_a_file_that_is_not_onnx(tmp_path, capsys, payload):
    path = tmp_path / "junk.onnx"
    path.write_bytes(payload)
    with pytest.raises(ModelLoadError, match="not an ONNX model"):
        load_onnx(path)
    code, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "out.snnir")
    assert_clean_failure(code, err, "junk.onnx", "not an ONNX model")
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_a_truncated_protobuf(tmp_path, fraction):
    data = open("models/digits_mlp.onnx", "rb").read()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelLoadError, match="cut.onnx"):
        load_onnx(path)


def test_a_missing_file_and_a_folder(tmp_path, capsys):
    code, _, err = run_cli(capsys, "compile", tmp_path / "nope.onnx", "-o", tmp_path / "o.snnir")
    assert_clean_failure(code, err, "nope.onnx", "no such file")
    with pytest.raises(ModelLoadError, match="not a regular file"):
        load_onnx(tmp_path)


def test_a_graph_the_checker_rejects(tmp_path, capsys):
    model = tiny_model()
    model.graph.node[1].input[0] = "never_defined"     # Relu reads a value nobody produces
    path = save_model(model, tmp_path / "bad.onnx")
    code, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "o.snnir")
    assert_clean_failure(code, err, "ONNX checker rejects", "never_defined")


def test_an_unsupported_op_is_named_with_its_node(tmp_path, capsys):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="ok"),
             helper.make_node("Warp", ["r"], ["y"], name="the_warp", domain="com.example")]
    model = make_model(nodes, [4], [4])
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    path = save_model(model, tmp_path / "warp.onnx")
    code, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "o.snnir")
    assert_clean_failure(code, err, "'the_warp'", "com.example::Warp", "does not support")


def test_a_dynamic_non_batch_dimension(tmp_path, capsys):
    model = tiny_model()
    dim = model.graph.input[0].type.tensor_type.shape.dim[1]
    dim.Clear()
    dim.dim_param = "features"
    path = save_model(model, tmp_path / "dyn.onnx")
    code, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "o.snnir")
    assert_clean_failure(code, err, "axis 1 is dynamic", "features", "--input-shape")


def test_a_zero_sized_input(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    model = make_model(nodes, [0, 3], [0, 3])
    with pytest.raises(UnsupportedModelError, match="zero-sized"):
        snncc.compile(model)


def test_a_zero_sized_weight(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    model = make_model(nodes, [0], [5], {"w": np.zeros((0, 5), np.float32)})
    with pytest.raises(UnsupportedModelError, match="zero-sized"):
        snncc.compile(model)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_weights_are_named(tmp_path, capsys, bad):
    w1 = np.ones((3, 4), np.float32)
    w1[1, 2] = bad
    path = save_model(tiny_model(w1), tmp_path / "nan.onnx")
    np.savez(tmp_path / "c.npz", x=calib())
    code, _, err = run_cli(capsys, "compile", path, "--calib", tmp_path / "c.npz", "-o", tmp_path / "o.snnir")
    assert_clean_failure(code, err, "'w1'", "fc1", "NaN", "Inf")
    assert not (tmp_path / "o.snnir").exists()


def test_inf_is_allowed_as_a_clip_bound():
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip")]
    model = make_model(nodes, [4], [4], {"lo": np.array(0, np.float32), "hi": np.array(np.inf, np.float32)})
    graph = snncc.compile(model, pipeline="fold-bn")
    assert graph.nodes[-1].op == "clip"


def test_a_huge_declared_input_is_refused_before_allocating():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    model = make_model(nodes, [100_000, 100_000], [100_000, 100_000])
    with pytest.raises(ResourceLimitError, match="memory cap"):
        snncc.compile(model)


def test_a_huge_declared_initializer_without_data(tmp_path):
    model = tiny_model()
    w = model.graph.initializer[0]
    del w.dims[:]
    w.dims.extend([1 << 20, 1 << 20])
    path = save_model(model, tmp_path / "huge.onnx")
    with pytest.raises(ResourceLimitError, match="'w1'"):
        load_onnx(path)


def test_a_constant_that_would_fold_into_a_huge_tensor():
    # ConstantOfShape of a constant shape: the folder would allocate 40 GB before looking at the size
    shape = numpy_helper.from_array(np.array([100_000, 100_000], np.int64), "shape")
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"], name="fill"),
             helper.make_node("ReduceSum", ["big"], ["s"], name="sum", keepdims=0),
             helper.make_node("Add", ["x", "s"], ["y"], name="add")]
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    model = helper.make_model(helper.make_graph(nodes, "g", [inp], [out], initializer=[shape]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with memory_cap("1G"), pytest.raises(ResourceLimitError, match="'big'"):
        snncc.compile(model)


def test_the_memory_cap_is_configurable(tmp_path, capsys, monkeypatch):
    path = save_model(tiny_model(), tmp_path / "m.onnx")
    code, _, err = run_cli(capsys, "--max-memory", "100", "compile", path, "-o", tmp_path / "o.snnir")
    assert_clean_failure(code, err, "memory cap of 100 B", "--max-memory")
    monkeypatch.setenv("SNNCC_MAX_BYTES", "100")
    with pytest.raises(ResourceLimitError, match="SNNCC_MAX_BYTES"):
        load_onnx(path)
    monkeypatch.setenv("SNNCC_MAX_BYTES", "lots")
    code, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "o.snnir")
    assert_clean_failure(code, err, "SNNCC_MAX_BYTES='lots'")


# -- external data --------------------------------------------------------------------------------------------------

def _external(model: onnx.ModelProto, location: str, offset: int = 0, length: int | None = None) -> None:
    w = model.graph.initializer[0]
    nbytes = len(w.raw_data) or numpy_helper.to_array(w).nbytes
    w.ClearField("raw_data")
    del w.float_data[:]
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length or nbytes))):
        w.external_data.add(key=key, value=value)


def _model_folder(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    w1 = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    (folder / "weights.bin").write_bytes(w1.tobytes())
    return folder, w1


def test_external_data_inside_the_folder_loads(tmp_path):
    folder, w1 = _model_folder(tmp_path)
    model = tiny_model()
    _external(model, "weights.bin")
    loaded = load_onnx(save_model(model, folder / "m.onnx"))
    np.testing.assert_array_equal(numpy_helper.to_array(loaded.graph.initializer[0]), w1)


@pytest.mark.parametrize("location", ["../../etc/passwd", "../secret.bin", "sub/../../secret.bin", "/etc/passwd",
                                      "\\\\server\\share\\w.bin", "C:\\w.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, capsys, location):
    folder, _ = _model_folder(tmp_path)
    (tmp_path / "secret.bin").write_bytes(b"\0" * 48)
    model = tiny_model()
    _external(model, location)
    path = save_model(model, folder / "m.onnx")
    with pytest.raises(ModelLoadError, match="absolute|outside the model's folder"):
        load_onnx(path)
    code, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "o.snnir")
    assert_clean_failure(code, err, "'w1'", "external data")


def test_external_data_through_a_symlink_leaving_the_folder_is_refused(tmp_path):
    folder, _ = _model_folder(tmp_path)
    (tmp_path / "secret.bin").write_bytes(b"\0" * 48)
    (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    (folder / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    for location in ("link.bin", "linkdir/secret.bin"):
        model = tiny_model()
        _external(model, location)
        with pytest.raises(ModelLoadError, match="outside the model's folder"):
            load_onnx(save_model(model, folder / "m.onnx"))


def test_external_data_ranges_and_special_files_are_checked(tmp_path):
    folder, _ = _model_folder(tmp_path)
    cases = {"missing.bin": "does not exist", ".": "not a regular file"}
    for location, message in cases.items():
        model = tiny_model()
        _external(model, location)
        with pytest.raises(ModelLoadError, match=message):
            load_onnx(save_model(model, folder / "m.onnx"))
    model = tiny_model()
    _external(model, "weights.bin", offset=40)          # 48-byte tensor from byte 40 of a 48-byte file
    with pytest.raises(ModelLoadError, match="truncated"):
        load_onnx(save_model(model, folder / "m.onnx"))


def test_a_weight_of_the_wrong_element_type_is_a_load_error(tmp_path):
    model = tiny_model()
    w = model.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w).astype(np.float64), "w1"))
    with pytest.raises(ModelLoadError, match="fc1.*inconsistent type"):
        load_onnx(save_model(model, tmp_path / "f64.onnx"))


def test_a_static_batch_axis_compiles_and_evaluates(tmp_path, capsys):
    # exported with batch 1: onnxruntime (the cross-check, the ANN reference) must be fed one sample at a time
    model = tiny_model()
    for vi in (model.graph.input[0], model.graph.output[0]):
        vi.type.tensor_type.shape.dim[0].Clear()
        vi.type.tensor_type.shape.dim[0].dim_value = 1
    path = save_model(model, tmp_path / "b1.onnx")
    np.savez(tmp_path / "c.npz", x=calib(n=5), y=np.zeros(5, np.int64))
    code, _, err = run_cli(capsys, "compile", path, "--calib", tmp_path / "c.npz", "-o", tmp_path / "b1.snnir")
    assert code == 0, err
    code, out, err = run_cli(capsys, "eval", tmp_path / "b1.snnir", "--data", tmp_path / "c.npz", "--json")
    assert code == 0 and '"ann_accuracy": null' not in out, err


def test_an_in_memory_model_with_external_data_is_refused(tmp_path, monkeypatch):
    # a ModelProto has no folder to confine its external data to: never resolve it against the working directory
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 48)
    model = tiny_model()
    _external(model, "weights.bin")
    with pytest.raises(ModelLoadError, match="external data.*file path"):
        snncc.compile(model, calibration=calib())


def test_an_empty_shape_vector_is_not_a_zero_sized_weight():
    # empty int vectors feed shape computations legitimately (here Concat -> Reshape's shape); only weights of
    # Conv/Gemm/MatMul/BatchNormalization/Add/... must be non-empty
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Concat", ["empty", "tail"], ["shape"], name="cat", axis=0),
             helper.make_node("Reshape", ["r", "shape"], ["y"], name="reshape")]
    model = make_model(nodes, [2, 3], [6], {"empty": np.zeros(0, np.int64), "tail": np.array([-1, 6], np.int64)})
    graph = snncc.compile(model, pipeline="fold-bn")
    assert graph.nodes[-1].type.shape == (6,)


def test_external_data_inside_the_folder_compiles_end_to_end(tmp_path, capsys):
    # the onnxruntime cross-check gets the model's bytes with the external data inlined, never the path
    folder, _ = _model_folder(tmp_path)
    model = tiny_model()
    _external(model, "weights.bin")
    path = save_model(model, folder / "m.onnx")
    np.savez(tmp_path / "c.npz", x=calib())
    code, _, err = run_cli(capsys, "compile", path, "--calib", tmp_path / "c.npz", "-o", tmp_path / "m.snnir")
    assert code == 0, err


def test_eval_never_follows_a_source_model_with_escaping_external_data(tmp_path, capsys):
    # a .snnir names its source model; eval runs that model for the ANN reference, through the same confinement
    from snncc.ir import load, save

    path = save_model(tiny_model(), tmp_path / "m.onnx")
    graph = snncc.compile(path, calibration=calib(), timesteps=4)
    folder, _ = _model_folder(tmp_path)
    hostile = tiny_model()
    _external(hostile, "../../../../../../etc/passwd")
    meta = {k: v for k, v in graph.meta.items() if k != "source_sha256"}
    meta["source"] = save_model(hostile, folder / "hostile.onnx")
    save(graph.with_(meta=meta), tmp_path / "g.snnir")
    np.savez(tmp_path / "d.npz", x=calib(n=6))
    code, out, err = run_cli(capsys, "eval", tmp_path / "g.snnir", "--data", tmp_path / "d.npz", "--no-progress")
    assert code == 0, err
    assert "no ANN reference" in out and "outside the model's folder" in out
    assert load(tmp_path / "g.snnir").meta["source"].endswith("hostile.onnx")
