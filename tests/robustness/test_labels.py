"""Issue 19 item 9: labels must be one class index per prediction, in [0, classes): (N, 3) or (N, N) labels, huge,
negative or wrapped uint64 labels are refused (they crashed or were silently broadcast); an all-false --mask is a
clear error, and `eval --json` always prints valid JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from snncc.cli import main
from tests.robustness.util import assert_clean_failure, calib, run_cli, save_model, tiny_model

N = 32


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labels")
    save_model(tiny_model(), folder / "m.onnx")
    np.savez(folder / "c.npz", x=calib(N))
    assert main(["compile", str(folder / "m.onnx"), "--calib", str(folder / "c.npz"), "-o", str(folder / "m.snnir"),
                 "--no-progress"]) == 0
    return folder


@pytest.mark.parametrize("y, needle", [
    (np.zeros((N, 3), np.int64), "labels 'y' have shape [32, 3]"),
    (np.zeros((N, N), np.int64), "labels 'y' have shape [32, 32]"),
    (np.full(N, 10 ** 6, np.int64), "outside [0, 2)"),
    (np.full(N, -1, np.int64), "outside [0, 2)"),
    (np.full(N, 2 ** 64 - 1, np.uint64), "18446744073709551615"),
])
def test_labels_that_do_not_fit_the_output_are_refused(compiled, tmp_path, capsys, y, needle):
    np.savez(tmp_path / "d.npz", x=calib(N), y=y)
    code, out, err = run_cli(capsys, "eval", compiled / "m.snnir", "--data", tmp_path / "d.npz", "--json")
    assert_clean_failure(code, err, needle)
    assert out == ""


def test_an_all_false_mask_is_a_clear_error(compiled, tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x=calib(N), y=np.zeros(N, np.int64), test=np.zeros(N, bool))
    code, out, err = run_cli(capsys, "eval", compiled / "m.snnir", "--data", tmp_path / "d.npz", "--mask", "test",
                             "--json")
    assert_clean_failure(code, err, "selects no labels")
    assert "NaN" not in out


def test_masked_out_placeholder_labels_are_allowed_and_json_is_valid(compiled, tmp_path, capsys):
    y = np.zeros(N, np.int64)
    y[N // 2:] = -1                      # unlabelled samples, masked out
    np.savez(tmp_path / "d.npz", x=calib(N), y=y, test=np.arange(N) < N // 2)
    code, out, err = run_cli(capsys, "eval", compiled / "m.snnir", "--data", tmp_path / "d.npz", "--mask", "test",
                             "--json")
    assert code == 0, err
    report = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in eval --json output"))
    assert 0 <= report["snn_accuracy"] <= 1


@pytest.mark.parametrize("value", [3e38, -3e38, 1e37])
def test_inputs_that_overflow_float32_in_the_simulator_are_refused(compiled, tmp_path, capsys, value):
    """Issue 19 item 16: finite inputs so large that the integrated currents overflow float32 are refused, not
    simulated into a garbage result."""
    x = calib(N)
    x[5, 2] = value
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros(N, np.int64))
    code, out, err = run_cli(capsys, "eval", compiled / "m.snnir", "--data", tmp_path / "d.npz", "--json")
    assert_clean_failure(code, err, "could overflow float32", "T=32", "are safe")
    assert out == ""


def test_the_memory_cap_counts_the_float32_copy_of_the_data(tmp_path, capsys, compiled):
    """Issue 19 item 15: an .npz whose float32 'x' fits under the cap but not with the chunk of float64 being
    converted is refused before it is decompressed (a 3 MB file declaring 3 GiB of float64 reached 5.0 GB under a
    4 GiB cap; read by chunks it costs the float32 copy and one chunk, test_data_by_batch)."""
    x = np.zeros((4096, 4), np.float64)           # 64 KiB as float32, 192 KiB with the one chunk of float64
    np.savez_compressed(tmp_path / "d.npz", x=x)
    code, _, err = run_cli(capsys, "--max-memory", "160K", "eval", compiled / "m.snnir", "--data",
                           tmp_path / "d.npz")
    assert_clean_failure(code, err, "array 'x'", "the result and a chunk", "memory cap")
