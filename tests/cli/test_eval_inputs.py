"""`snncc eval` as a newcomer runs it: without --data (a bundled model's test split), and on the ONNX model itself."""

import json
import shutil

import pytest
from click.testing import CliRunner

from snncc.cli import cli, main


@pytest.fixture(scope="module")
def mlp_snnir(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "mlp.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "-T", "8", "-o", str(out), "--no-progress"]) == 0
    return out


def test_eval_without_data_uses_the_bundled_test_split(mlp_snnir):
    result = CliRunner().invoke(cli, ["eval", str(mlp_snnir), "--limit", "60", "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["samples"] == 60 and report["snn_accuracy"] > 0.8
    assert any("models/data/digits_test.npz" in n and "no --data given" in n for n in report["notes"])
    table = CliRunner().invoke(cli, ["eval", str(mlp_snnir), "--limit", "60", "--no-progress"]).output
    assert "note: data: models/data/digits_test.npz, the test split recorded next to models/digits_mlp.onnx" in table


def test_eval_without_data_and_no_recorded_split_says_what_to_pass(mlp_snnir, tmp_path, capsys):
    model = tmp_path / "lonely.onnx"
    shutil.copy("models/digits_mlp.onnx", model)
    out = tmp_path / "lonely.snnir"
    assert main(["compile", str(model), "--calib", "models/data/digits_calib.npz", "-o", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no --data given and no test split recorded next to its source model" in err
    assert "--data TEST.npz" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["eval", "inspect", "export"])
def test_an_onnx_model_where_a_compiled_one_is_expected(command, tmp_path, capsys):
    extra = ["--format", "text", "-o", str(tmp_path / "x.txt")] if command == "export" else []
    assert main([command, "models/digits_mlp.onnx", *extra]) == 2
    err = capsys.readouterr().err
    assert ("this is an ONNX model; compile it first with `snncc compile models/digits_mlp.onnx -o "
            f"digits_mlp.snnir`, then run `snncc {command} digits_mlp.snnir`") in err
    assert "protobuf" not in err and "parsing" not in err and "Traceback" not in err


def test_an_onnx_model_under_another_name_is_recognised_by_its_bytes(tmp_path, capsys):
    disguised = tmp_path / "model.snnir"
    shutil.copy("models/digits_mlp.onnx", disguised)
    assert main(["eval", str(disguised), "--data", "models/data/digits_test.npz"]) == 2
    err = capsys.readouterr().err
    assert "this is an ONNX model; compile it first" in err and "model_snn.snnir" in err
    garbage = tmp_path / "garbage.snnir"
    garbage.write_bytes(b"\x08\x01\x12\x03abc" * 10)
    assert main(["eval", str(garbage), "--data", "models/data/digits_test.npz"]) == 2
    assert "ONNX" not in capsys.readouterr().err
