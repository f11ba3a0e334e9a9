"""`snncc eval --engine ort|numpy` end to end through the CLI: same report and JSON keys, the engine and its threads
named, the same accuracy and agreement."""

import json
import re

from snncc.backends.onnx_step.engine import machine_threads
from snncc.cli import main
from snncc.ir.serialize import save
from tests.onnx_step.compiled import compiled


def _eval(capsys, path, *extra):
    assert main(["eval", str(path), "--limit", "24", "--timesteps", "4,8", *extra]) == 0
    return capsys.readouterr().out


def test_eval_engine_ort_matches_numpy_through_the_cli(tmp_path, capsys):
    path = tmp_path / "cnn.snnir"
    save(compiled("digits_cnn", "rate"), path)
    numpy_json = json.loads(_eval(capsys, path, "--json", "--engine", "numpy"))
    ort_json = json.loads(_eval(capsys, path, "--json", "--engine", "ort"))
    assert set(ort_json) == set(numpy_json)
    assert (numpy_json["engine"], numpy_json["threads"]) == ("numpy", 1)
    # the idle cores (at least one): the load average moves between runs
    assert ort_json["engine"] == "ort" and 1 <= ort_json["threads"] <= machine_threads()
    for key in ("snn_accuracy", "agreement", "ann_accuracy", "spikes_per_layer", "spikes_per_sample",
                "synops_per_sample", "energy_ratio", "samples", "timesteps"):
        assert ort_json[key] == numpy_json[key], key
    text = _eval(capsys, path, "--engine", "ort")
    assert re.search(r"engine ort, \d+ thread", text) and "SNN acc %" in text


def test_eval_engine_ort_on_a_windowed_coding(tmp_path, capsys):
    path = tmp_path / "phase.snnir"
    save(compiled("digits_cnn", "phase"), path)
    numpy_json = json.loads(_eval(capsys, path, "--json", "--engine", "numpy"))
    ort_json = json.loads(_eval(capsys, path, "--json", "--engine", "ort"))
    assert ort_json["schedule"] == "windowed"
    assert {k: v for k, v in ort_json.items() if k not in ("engine", "threads")} == \
        {k: v for k, v in numpy_json.items() if k not in ("engine", "threads")}


def test_an_unknown_engine_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "mlp.snnir"
    save(compiled("digits_mlp", "rate"), path)
    assert main(["eval", str(path), "--engine", "gpu"]) == 2
    assert "gpu" in capsys.readouterr().err


def test_eval_default_engine_is_the_fastest_installed(tmp_path, capsys, monkeypatch):
    """--engine auto (the default) runs ort where onnxruntime imports; numpy where it does not (eval's ANN reference
    needs onnxruntime too, so that case is checked on the chooser)."""
    path = tmp_path / "cnn.snnir"
    save(compiled("digits_mlp", "rate"), path)
    from snncc.backends.simulator.runner import fastest_engine

    assert json.loads(_eval(capsys, path, "--json"))["engine"] == "ort"
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)     # import onnxruntime -> ImportError
    assert fastest_engine() == "numpy"


def test_auto_engine_falls_back_where_the_step_model_cannot_express_the_program(monkeypatch):
    from snncc.backends.simulator import ProgramError, simulate
    from tests.onnx_step.compiled import data

    def refuse(*args, **kwargs):
        raise ProgramError("node %x (op): no ONNX step lowering for this op")
    monkeypatch.setattr("snncc.backends.onnx_step.engine.lower_program", refuse)
    result = simulate(compiled("digits_mlp", "rate"), data("digits_mlp"), 2, engine="auto")
    assert result.engine == "numpy"
