"""Issue 19 item 1: external data is read only from the model's folder, wherever the tensor sits (initializer,
sparse initializer, tensor or sparse attribute, subgraph), and onnxruntime gets the model with its data inlined, so
it never opens a path named inside the file (it would resolve it against the current directory)."""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from snncc.frontend.load import _all_tensors, read_model
from tests.robustness.util import assert_clean_failure, calib, run_cli, tiny_model

VALUES = np.arange(6, dtype=np.float32)


def _external(name: str, location: str) -> onnx.TensorProto:
    tensor = numpy_helper.from_array(VALUES, name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": str(VALUES.nbytes)}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _sparse(location: str) -> onnx.SparseTensorProto:
    indices = numpy_helper.from_array(np.arange(VALUES.size, dtype=np.int64), "extra_indices")
    return helper.make_sparse_tensor(_external("extra", location), indices, [VALUES.size])


def _model(placement: str, location: str) -> onnx.ModelProto:
    """The tiny model plus one unused tensor with external data at `placement`."""
    model = tiny_model()
    g = model.graph
    if placement == "sparse-initializer":
        g.sparse_initializer.append(_sparse(location))
    elif placement == "sparse-attribute":
        g.node.append(helper.make_node("Constant", [], ["unused"], name="c", sparse_value=_sparse(location)))
    elif placement == "subgraph":
        branch = helper.make_graph([helper.make_node("Identity", ["extra"], ["b"])], "branch", [],
                                   [helper.make_tensor_value_info("b", TensorProto.FLOAT, [VALUES.size])])
        branch.sparse_initializer.append(_sparse(location))
        g.initializer.append(numpy_helper.from_array(np.array(True), "cond"))
        g.node.append(helper.make_node("If", ["cond"], ["unused"], name="if", then_branch=branch,
                                       else_branch=branch))
    return model


def _write(tmp_path, placement, location) -> str:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "m.onnx").write_bytes(_model(placement, location).SerializeToString())
    np.savez(tmp_path / "c.npz", x=calib())
    return str(folder / "m.onnx")


PLACEMENTS = ["sparse-initializer", "sparse-attribute", "subgraph"]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_data_next_to_the_current_directory_is_not_read(tmp_path, capsys, monkeypatch, placement):
    model = _write(tmp_path, placement, "secret.bin")
    VALUES.tofile(tmp_path / "secret.bin")          # in the current directory, not in the model's folder
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "compile", model, "--calib", "c.npz", "-o", "o.snnir", "--no-progress")
    assert_clean_failure(code, err, "secret.bin", "does not exist")
    assert not (tmp_path / "o.snnir").exists()


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_a_path_leaving_the_folder_is_refused(tmp_path, capsys, monkeypatch, placement):
    model = _write(tmp_path, placement, "../secret.bin")
    VALUES.tofile(tmp_path / "secret.bin")
    code, _, err = run_cli(capsys, "compile", model, "--calib", tmp_path / "c.npz", "-o", tmp_path / "o.snnir",
                           "--no-progress")
    assert_clean_failure(code, err, "leads outside the model's folder")


def test_every_tensor_is_inlined_and_nothing_outside_the_folder_is_opened(tmp_path, capsys, monkeypatch):
    """External data inside the folder is read from there (an audit hook sees every Python-level open) and
    onnxruntime gets a model without any external reference (so its C++ side opens nothing either)."""
    import onnxruntime as ort

    model = _write(tmp_path, "sparse-initializer", "extra.bin")
    VALUES.tofile(tmp_path / "model" / "extra.bin")
    (tmp_path / "extra.bin").write_bytes(b"decoy" * 10)   # a same-named decoy in the current directory
    monkeypatch.chdir(tmp_path)
    loaded = read_model(tmp_path / "model" / "m.onnx").graph.sparse_initializer[0].values
    assert loaded.data_location != TensorProto.EXTERNAL and loaded.raw_data == VALUES.tobytes()
    sessions = []
    real = ort.InferenceSession

    def spy(payload, *args, **kwargs):
        parsed = onnx.ModelProto()
        parsed.ParseFromString(payload)
        sessions.append([t.name for t in [*_all_tensors(parsed), parsed.graph.sparse_initializer[0].values]
                         if t.data_location == TensorProto.EXTERNAL])
        return real(payload, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    opened: list[str] = []
    active = [True]

    def hook(event, args):
        if active[0] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)
    try:
        code, _, err = run_cli(capsys, "compile", model, "--calib", "c.npz", "-o", "o.snnir", "--no-progress")
    finally:
        active[0] = False
    assert code == 0, err
    assert sessions and all(not external for external in sessions)
    assert not any(p in ("extra.bin", str(tmp_path / "extra.bin")) for p in opened), opened
