"""`snncc sweep` on the command line: table on stdout, files in the output folder, clean option errors."""

import json

from snncc.cli import main


def test_serial_sweep_of_a_bundled_model(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "models/digits_mlp.onnx", "--serial", "--codings", "rate", "--timesteps", "2,4",
                 "--limit", "40", "--no-progress", "-o", str(out)]) == 0
    table = capsys.readouterr().out
    assert "rate-T2" in table and "rate-T4" in table and "acc %" in table
    document = json.loads((out / "results.json").read_text())
    assert document["data"].endswith("digits_test.npz") and document["samples"] == 40
    assert (out / "report.html").is_file() and len(list((out / "plots").glob("*.png"))) == 3


def test_bad_sweep_options_exit_2(tmp_path, capsys):
    assert main(["sweep", "models/digits_mlp.onnx", "--codings", "rate,nonsense", "-o", str(tmp_path / "s")]) == 2
    assert "unknown coding(s) nonsense" in capsys.readouterr().err
    assert main(["sweep", "models/digits_mlp.onnx", "--serial", "--workers", "2", "-o", str(tmp_path / "s")]) == 2
