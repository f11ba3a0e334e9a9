"""The emitted standalone program runs the same kernels and needs only NumPy."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snncc.backends.simulator import emit_program, simulate
from tests.simulator.sim_graphs import conv_net

STDLIB_AND_NUMPY = {"argparse", "functools", "json", "os", "signal", "sys", "time", "numpy", "tqdm"}


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    rng = np.random.default_rng(21)
    graph = conv_net(rng)
    folder = tmp_path_factory.mktemp("program")
    script = emit_program(graph, folder)
    x = rng.uniform(0, 1, (20, 2, 12, 12)).astype(np.float32)
    y = rng.integers(0, 10, 20)
    np.savez(folder / "input.npz", x=x, y=y)
    return graph, folder, script, x, y


def test_program_imports_only_numpy_and_stdlib(emitted):
    _, folder, script, _, _ = emitted
    assert sorted(p.name for p in folder.iterdir()) == ["input.npz", "program.json", "snn_kernels", "snn_program.py",
                                                        "weights.npz"]
    carried = sorted((folder / "snn_kernels").glob("*.py"))
    assert "main.py" in {p.name for p in carried} and "__init__.py" in {p.name for p in carried}
    imported = set()
    for path in [script, *carried]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert imported <= STDLIB_AND_NUMPY | {"snn_kernels"}
    assert "snncc" not in imported


def test_program_carries_every_kernel_module(emitted):
    from snncc.backends.simulator import kernels
    _, folder, _, _, _ = emitted
    package = Path(kernels.__file__).parent
    assert {p.name for p in (folder / "snn_kernels").glob("*.py")} == {p.name for p in package.glob("*.py")}


def test_program_predictions_equal_simulate(emitted):
    graph, folder, script, x, y = emitted
    done = subprocess.run([sys.executable, str(script), str(folder / "input.npz"), "--json", "--timesteps", "4,16",
                           "--batch-size", "8"], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    expected = simulate(graph, x, [4, 16], batch_size=8)
    for t in (4, 16):
        assert report["predictions"][str(t)] == expected.predictions[t].tolist()
        assert report["accuracy"][str(t)] == pytest.approx(float(np.mean(expected.predictions[t] == y)))
    assert report["spikes_per_layer"] == pytest.approx(expected.spikes_per_layer)
    assert report["synops_per_sample"] == pytest.approx(expected.synops_per_sample)
    assert report["energy_ratio"] == pytest.approx(expected.energy_ratio)


def test_program_runs_with_snncc_unimportable(emitted, tmp_path):
    graph, folder, script, x, _ = emitted
    out = tmp_path / "pred.txt"
    blocker = ("import runpy, sys; sys.modules['snncc'] = None; "
               f"sys.argv = [{str(script)!r}, {str(folder / 'input.npz')!r}, '--timesteps', '8', '--out', "
               f"{str(out)!r}]; runpy.run_path({str(script)!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, check=True)
    assert [int(v) for v in out.read_text().split()] == simulate(graph, x, 8).predictions[8].tolist()
    assert "accuracy at T=8" in done.stdout
