"""The emitted program as a person runs it: a short report with the accuracy on stdout, predictions to --out."""

import subprocess
import sys

import numpy as np
import pytest

from snncc.backends.simulator import emit_program, simulate
from tests.simulator.sim_graphs import conv_net


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    rng = np.random.default_rng(5)
    graph = conv_net(rng)
    folder = tmp_path_factory.mktemp("report")
    script = emit_program(graph, folder)
    x = rng.uniform(0, 1, (30, 2, 12, 12)).astype(np.float32)
    expected = simulate(graph, x, [4, 16])
    y = expected.predictions[16].copy()
    y[:6] = (y[:6] + 1) % 10                      # 24 of 30 right at T=16: 80.00%
    np.savez(folder / "labelled.npz", x=x, y=y)
    np.savez(folder / "unlabelled.npz", x=x)
    return folder, script, expected, y


def _run(script, *args):
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, check=True)


def test_stdout_is_a_report_with_the_accuracy_not_one_line_per_sample(program, tmp_path):
    folder, script, expected, y = program
    out = tmp_path / "predictions.txt"
    done = _run(script, folder / "labelled.npz", "--timesteps", "4,16", "--out", out)
    lines = done.stdout.splitlines()
    assert len(lines) < 8
    assert lines[0] == "samples: 30"
    acc4 = 100 * np.mean(expected.predictions[4] == y)
    assert f"accuracy at T=4: {acc4:.2f}%" in lines and "accuracy at T=16: 80.00%" in lines
    assert lines[-1] == f"predictions (T=16) written to {out}"
    assert [int(v) for v in out.read_text().split()] == expected.predictions[16].tolist()


def test_npy_out_and_no_labels(program, tmp_path):
    folder, script, expected, _ = program
    out = tmp_path / "predictions.npy"
    done = _run(script, folder / "unlabelled.npz", "--timesteps", "16", "--out", out)
    assert f"accuracy: no labels 'y' in {folder / 'unlabelled.npz'}" in done.stdout
    np.testing.assert_array_equal(np.load(out), expected.predictions[16])
    assert not list(tmp_path.glob("*.tmp*"))


def test_without_out_it_says_how_to_save_them(program):
    folder, script, _, _ = program
    done = _run(script, folder / "labelled.npz", "--timesteps", "4")
    assert "predictions: not saved (pass --out FILE, or --json)" in done.stdout and len(done.stdout.splitlines()) < 6
