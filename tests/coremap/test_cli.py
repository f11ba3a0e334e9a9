"""`snncc map`, `snncc map --check`, `snncc compile --target` and `snncc eval --profile` end to end."""

import json
from pathlib import Path

from snncc.cli import main


def test_map_then_check(tmp_path, capsys):
    snnir = tmp_path / "mlp.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "-T", "8", "-o", str(snnir), "--no-progress"]) == 0
    assert main(["map", str(snnir), "--profile", "truenorth"]) == 0
    mapfile = tmp_path / "mlp.map.json"
    doc = json.loads(mapfile.read_text())
    assert doc["profile"]["name"] == "truenorth" and doc["summary"]["cores"] >= 1
    assert "profile truenorth:" in capsys.readouterr().out
    assert main(["map", "--check", str(snnir), str(mapfile)]) == 0
    assert "ok" in capsys.readouterr().out
    doc["cores"][0]["neurons"] = 300
    broken = tmp_path / "broken.map.json"
    broken.write_text(json.dumps(doc))
    assert main(["map", "--check", str(snnir), str(broken)]) == 1
    out = capsys.readouterr().out
    assert "violation: core 0: file says neurons = 300" in out


def test_compile_with_target_writes_the_mapping(tmp_path, capsys):
    snnir = tmp_path / "net.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "-T", "8", "-o", str(snnir), "--target", "loihi2",
                 "--no-progress"]) == 0
    mapfile = tmp_path / "net.map.json"
    assert mapfile.is_file() and json.loads(mapfile.read_text())["profile"]["name"] == "loihi2"
    assert main(["map", "--check", str(snnir), str(mapfile)]) == 0


def test_eval_reports_accuracy_after_quantization(tmp_path, capsys):
    snnir = tmp_path / "mlp.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "-T", "8", "-o", str(snnir), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(snnir), "--data", "models/data/digits_test.npz", "--limit", "100", "--profile",
                 "loihi", "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["profile"]["profile"] == "loihi" and report["profile"]["weight_bits"] == 8
    assert abs(report["profile"]["snn_accuracy"] - report["snn_accuracy"]) <= 0.05
    assert main(["eval", str(snnir), "--data", "models/data/digits_test.npz", "--limit", "50", "--profile",
                 "truenorth", "--no-progress"]) == 0
    assert "on truenorth (2-bit weights, 8-bit input; integer weights and thresholds): SNN accuracy" in \
        capsys.readouterr().out


def test_eval_profile_rounds_the_weights_of_other_codings(tmp_path, capsys):
    """Phase coding: weights rounded per output channel, thresholds in float; 8 bits keep the accuracy, 3 bits
    cost some (the rounding really happens)."""
    snnir = tmp_path / "mlp_phase.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "--coding", "phase", "-o", str(snnir), "--no-progress"]) == 0
    coarse = tmp_path / "coarse.json"
    profile = json.loads(Path("backends/coremap/profiles/generic.json").read_text())
    profile.update(name="coarse", weight_bits=3)
    coarse.write_text(json.dumps(profile))
    capsys.readouterr()
    reports = {}
    for name in ("generic", str(coarse)):
        assert main(["eval", str(snnir), "--data", "models/data/digits_test.npz", "--limit", "200", "--profile",
                     name, "--json", "--no-progress"]) == 0
        reports[name] = json.loads(capsys.readouterr().out)
    fine, rough = reports["generic"], reports[str(coarse)]
    assert fine["profile"]["model"] == "rounded weights, float thresholds"
    assert abs(fine["profile"]["snn_accuracy"] - fine["snn_accuracy"]) <= 0.02
    assert rough["profile"]["weight_bits"] == 3 and rough["profile"]["snn_accuracy"] < fine["profile"]["snn_accuracy"]


def test_map_user_errors_exit_2(tmp_path, capsys):
    snnir = tmp_path / "mlp.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "-T", "4", "-o", str(snnir), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["map", str(snnir)]) == 2
    assert "--profile is required" in capsys.readouterr().err
    assert main(["map", str(snnir), "--profile", "nope"]) == 2
    assert "unknown hardware profile 'nope'" in capsys.readouterr().err
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"name": "p", "neurons_per_core": 0}))
    assert main(["map", str(snnir), "--profile", str(bad)]) == 2
    assert "missing field" in capsys.readouterr().err
    assert main(["map", "--check", str(snnir)]) == 2
    assert main(["map", "--check", str(snnir), str(tmp_path / "absent.map.json")]) == 2
    assert "no such mapping file" in capsys.readouterr().err


def test_map_progress_bar_over_layers_on_stderr_only_when_asked(tmp_path, capsys):
    snnir = tmp_path / "mlp.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "-T", "8", "-o", str(snnir), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["map", str(snnir), "--profile", "loihi2", "--progress"]) == 0
    captured = capsys.readouterr()
    assert "map: partition (loihi2)" in captured.err and "layer" in captured.err
    assert "partition" not in captured.out
    assert main(["map", str(snnir), "--profile", "loihi2"]) == 0      # not a terminal: no bar
    assert "map: partition" not in capsys.readouterr().err
