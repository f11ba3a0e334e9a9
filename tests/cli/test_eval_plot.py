"""`snncc eval --plot OUT.png`: a valid, non-empty PNG of accuracy vs time step and spikes per layer; a clear error
when matplotlib is missing."""

import json
import sys

import numpy as np
import pytest
from PIL import Image

from snncc.cli import main
from snncc.eval_plot import plot_checkpoints


@pytest.fixture(scope="module")
def mlp_snnir(tmp_path_factory):
    out = tmp_path_factory.mktemp("plot") / "mlp.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "-T", "16", "-o", str(out), "--no-progress"]) == 0
    return out


def _valid_png(path):
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size[0] > 600 and image.size[1] > 300
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10          # something is drawn, not a blank canvas


def test_plot_is_a_valid_png_and_the_printed_report_keeps_the_asked_t(mlp_snnir, tmp_path, capsys):
    png = tmp_path / "mlp.png"
    assert main(["eval", str(mlp_snnir), "--timesteps", "4,16", "--limit", "80", "--plot", str(png), "--json",
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["timesteps"] == [4, 16] and set(report["snn_accuracy"]) == {"4", "16"}
    assert f"wrote {png}" in captured.err
    _valid_png(png)


def test_plot_of_a_windowed_coding(tmp_path, capsys):
    out = tmp_path / "phase.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "--coding", "phase", "-o", str(out), "--no-progress"]) == 0
    png = tmp_path / "phase.png"
    assert main(["eval", str(out), "--limit", "40", "--plot", str(png), "--no-progress"]) == 0
    _valid_png(png)


def test_missing_matplotlib_is_a_clear_error(mlp_snnir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib -> ImportError
    png = tmp_path / "x.png"
    assert main(["eval", str(mlp_snnir), "--limit", "10", "--plot", str(png)]) == 2
    err = capsys.readouterr().err
    assert "plots need matplotlib: pip install 'snncc[plot]'" in err and "Traceback" not in err
    assert not png.exists()


def test_checkpoints():
    assert plot_checkpoints([16]) == list(range(1, 17))
    steps = plot_checkpoints([4, 1000])
    assert steps[0] == 1 and steps[-1] == 1000 and 4 in steps and len(steps) <= 66
