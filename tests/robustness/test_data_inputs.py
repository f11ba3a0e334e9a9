"""Broken and hostile data files (.npz): object arrays are never unpickled, shapes and dtypes are checked, sizes are
capped before decompression, and data without labels still evaluates (agreement only)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import snncc
from snncc.data import load_npz
from snncc.errors import DataError, ResourceLimitError
from snncc.limits import memory_cap
from tests.robustness.util import assert_clean_failure, calib, run_cli, save_model, tiny_model


class _Boom:
    """Unpickling this would create a file: proof that a pickle was executed."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_object_arrays_are_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    x = np.empty(1, dtype=object)
    x[0] = _Boom(str(marker))
    np.savez(tmp_path / "evil.npz", x=x)
    with pytest.raises(DataError, match="never unpickles"):
        load_npz(tmp_path / "evil.npz")
    assert not marker.exists()


def test_a_raw_pickle_and_a_single_npy_are_not_npz(tmp_path):
    (tmp_path / "p.npz").write_bytes(pickle.dumps({"x": np.zeros((2, 4))}))
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(tmp_path / "p.npz")
    np.save(tmp_path / "one.npy", np.zeros((2, 4), np.float32))
    with pytest.raises(DataError, match="npz"):
        load_npz(tmp_path / "one.npy")


@pytest.mark.parametrize("arrays, message", [
    ({"y": np.zeros(3, np.int64)}, "no array named 'x'"),
    ({"x": np.array(["a", "b"])}, "numeric array"),
    ({"x": np.zeros((0, 4), np.float32)}, "no samples"),
    ({"x": np.float32(3.0)}, "no samples"),
    ({"x": np.full((2, 4), np.nan, np.float32)}, "NaN"),
    ({"x": np.zeros((2, 4)), "y": np.zeros(2, np.float32)}, "integer class labels"),
    ({"x": np.zeros((2, 4)), "y": np.zeros(3, np.int64)}, "one label row per sample"),
    ({"x": np.zeros((2, 4)), "y": np.int64(1)}, "one label row per sample"),
])
def test_malformed_arrays(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_npz(tmp_path / "d.npz")


def test_truncated_and_corrupted_npz(tmp_path):
    np.savez(tmp_path / "ok.npz", x=np.zeros((50, 4), np.float32))
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable"):
        load_npz(tmp_path / "cut.npz")
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    with pytest.raises(DataError):
        load_npz(tmp_path / "flip.npz")


def test_a_zip_bomb_is_refused_before_decompression(tmp_path):
    np.savez_compressed(tmp_path / "bomb.npz", x=np.zeros((4_000_000, 4), np.float32))   # 64 MB in ~60 KB
    assert (tmp_path / "bomb.npz").stat().st_size < 1 << 20
    with memory_cap("8M"), pytest.raises(ResourceLimitError, match="'x' of shape \\[4000000, 4\\]"):
        load_npz(tmp_path / "bomb.npz")


def test_a_mask_must_exist_and_fit(tmp_path):
    np.savez(tmp_path / "g.npz", x=np.zeros((1, 3, 4), np.float32), y=np.zeros((1, 3), np.int64),
             m=np.ones(2, bool))
    with pytest.raises(DataError, match="no array named 'test_mask'"):
        load_npz(tmp_path / "g.npz", mask_key="test_mask")
    with pytest.raises(DataError, match="has 2 entries"):
        load_npz(tmp_path / "g.npz", mask_key="m")


def test_calibration_data_of_the_wrong_shape_or_dtype(tmp_path, capsys):
    model = save_model(tiny_model(), tmp_path / "m.onnx")
    with pytest.raises(DataError, match=r"per-sample shape \[5\] but the model's input %x expects \[4\]"):
        snncc.compile(model, calibration=calib(shape=(5,)))
    with pytest.raises(DataError, match="numeric"):
        snncc.compile(model, calibration=np.array([["a"] * 4] * 3))
    np.savez(tmp_path / "c.npz", x=calib(shape=(2, 2)))
    code, _, err = run_cli(capsys, "compile", model, "--calib", tmp_path / "c.npz", "-o", tmp_path / "o.snnir")
    assert_clean_failure(code, err, "calibration data", "[2, 2]", "[4]")
    assert not (tmp_path / "o.snnir").exists()


def _compiled(tmp_path) -> str:
    model = save_model(tiny_model(), tmp_path / "m.onnx")
    out = tmp_path / "m.snnir"
    snncc.ir.save(snncc.compile(model, calibration=calib(), timesteps=8), out)
    return str(out)


def test_test_data_of_the_wrong_shape_to_eval(tmp_path, capsys):
    snnir = _compiled(tmp_path)
    np.savez(tmp_path / "t.npz", x=calib(shape=(3,)), y=np.zeros(32, np.int64))
    code, _, err = run_cli(capsys, "eval", snnir, "--data", tmp_path / "t.npz", "--no-progress")
    assert_clean_failure(code, err, "t.npz", "per-sample shape [3]", "expects [4]")


def test_data_without_labels_reports_agreement_only(tmp_path, capsys):
    snnir = _compiled(tmp_path)
    np.savez(tmp_path / "t.npz", x=calib(n=20))
    code, out, err = run_cli(capsys, "eval", snnir, "--data", tmp_path / "t.npz", "--json", "--no-progress")
    assert code == 0, err
    import json

    report = json.loads(out)
    assert report["snn_accuracy"] is None and report["ann_accuracy"] is None
    assert 0.0 <= report["agreement"] <= 1.0
