"""The snncc command line end to end: compile -> inspect -> eval, and clean failures."""

import json

import pytest
from onnx import helper

from snncc.cli import main
from tests.helpers import make_model


def test_compile_inspect_eval_json(tmp_path, capsys):
    out = tmp_path / "mlp.snnir"
    text = tmp_path / "mlp.txt"
    assert main(["compile", "models/digits_mlp.onnx", "--coding", "rate", "-T", "16", "-o", str(out),
                 "--emit-text", str(text), "--no-progress"]) == 0
    assert out.is_file() and text.read_text().startswith("snnir 1.0")
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert capsys.readouterr().out == text.read_text()
    assert main(["eval", str(out), "--data", "models/data/digits_test.npz", "--timesteps", "8,16", "--json",
                 "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["timesteps"] == [8, 16]
    assert set(report["snn_accuracy"]) == {"8", "16"} and 0.8 < report["snn_accuracy"]["16"] <= 1.0
    assert 0.8 < report["ann_accuracy"] <= 1.0 and 0.8 < report["agreement"]["16"] <= 1.0
    for key in ("spikes_per_sample", "synops_per_sample"):
        assert report[key] > 0
    assert set(report["energy_ratio"]) == {"8", "16"} and report["energy_ratio"]["8"] > report["energy_ratio"]["16"]


def test_eval_prints_a_table(tmp_path, capsys):
    out = tmp_path / "mlp.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "-o", str(out), "--no-progress"]) == 0
    assert main(["eval", str(out), "--data", "models/data/digits_test.npz", "--timesteps", "4,8", "--limit", "50",
                 "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "SNN acc %" in table and "\n     4 " in table and "\n     8 " in table


def test_unsupported_ops_are_listed_with_exit_2(tmp_path, capsys):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="ok_relu"),
             helper.make_node("Sin", ["r"], ["s"], name="my_sin"),
             helper.make_node("Cos", ["s"], ["y"], name="my_cos")]
    path = tmp_path / "bad.onnx"
    path.write_bytes(make_model(nodes, (4,), (4,)).SerializeToString())
    assert main(["compile", str(path), "-o", str(tmp_path / "bad.snnir")]) == 2
    err = capsys.readouterr().err
    assert "2 node(s)" in err and "'my_sin': op ai.onnx::Sin (opset 17)" in err and "my_cos" in err
    assert "Traceback" not in err
    assert not (tmp_path / "bad.snnir").exists()


@pytest.mark.parametrize("args", [["-T", "0"], ["--coding", "nonsense"], ["--balance", "row"]])
def test_bad_options_fail_cleanly(tmp_path, capsys, args):
    code = main(["compile", "models/digits_mlp.onnx", "-o", str(tmp_path / "x.snnir"), *args])
    assert code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_eval_of_a_windowed_coding_reports_latency_not_t(tmp_path, capsys):
    out = tmp_path / "phase.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "--coding", "phase", "-K", "6", "-o", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--data", "models/data/digits_test.npz", "--limit", "40", "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "latency 12 steps, pipelined: one sample every 6 steps" in table and "\n    32 " not in table
