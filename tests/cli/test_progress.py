"""Progress bars on the slow steps (compile passes and calibration, simulation within a batch, the ANN reference,
the spike-rate simulations of compile and map) with --progress, and none when stderr is not a terminal."""

import numpy as np
import pytest

from snncc.backends.simulator import kernels, simulate
from snncc.cli import main
from tests.simulator.sim_graphs import conv_net

MLP = "models/digits_mlp.onnx"


@pytest.fixture(scope="module")
def mlp_snnir(tmp_path_factory):
    out = tmp_path_factory.mktemp("progress") / "mlp.snnir"
    assert main(["compile", MLP, "-T", "8", "-o", str(out), "--no-progress"]) == 0
    return out


def test_compile_with_progress_shows_passes_calibration_and_mapping(tmp_path, capsys):
    assert main(["compile", MLP, "-T", "8", "--target", "loihi2", "-o", str(tmp_path / "m.snnir"), "--progress"]) == 0
    err = capsys.readouterr().err
    for bar in ("compile:", "lower-rate", "calibrate:", "compile: spike rates: 100%"):
        assert bar in err, bar


def test_eval_with_progress_shows_the_ann_and_the_simulation(mlp_snnir, capsys):
    assert main(["eval", str(mlp_snnir), "--limit", "100", "--progress"]) == 0
    err = capsys.readouterr().err
    assert "ANN (onnxruntime)" in err and "simulate: 100%" in err


def test_map_with_progress(mlp_snnir, tmp_path, capsys):
    assert main(["map", str(mlp_snnir), "--profile", "loihi2", "--traffic", "simulate", "-o",
                 str(tmp_path / "m.map.json"), "--progress"]) == 0
    assert "map: spike traffic: 100%" in capsys.readouterr().err


def test_no_bars_when_stderr_is_not_a_terminal(mlp_snnir, tmp_path, capsys):
    assert main(["compile", MLP, "-T", "8", "--target", "loihi2", "-o", str(tmp_path / "m.snnir")]) == 0
    assert main(["eval", str(mlp_snnir), "--limit", "50"]) == 0
    err = capsys.readouterr().err
    assert "%|" not in err and "compile:" not in err


@pytest.mark.parametrize("t_max", [1, 7])
def test_the_simulation_bar_moves_every_step(monkeypatch, t_max):
    updates = []

    class Recorder:
        def update(self, n):
            updates.append(n)

        def close(self):
            pass

    monkeypatch.setattr(kernels.program, "progress_bar", lambda total, desc, enabled: Recorder() if enabled else None)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (10, 2, 12, 12)).astype(np.float32)
    simulate(conv_net(rng), x, t_max, batch_size=4, progress=True)
    assert len(updates) == 3 * t_max                         # batches of 4, 4, 2: every step of each
    assert sum(updates) == pytest.approx(10)
