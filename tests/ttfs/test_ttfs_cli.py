"""`--coding ttfs` from the command line: compile with -K, inspect, eval reporting spikes per neuron and the
latency (sum of the windows on the longest path); bad options and gates it cannot express are clear errors;
`snncc passes` lists the coding and its pass; the precondition names what the coding cannot take."""

from __future__ import annotations

import json

import pytest

from snncc.cli import main
from snncc.frontend import load_onnx, onnx_to_ir
from snncc.passes import ttfs_precondition


def test_cli_compile_inspect_and_eval(tmp_path, capsys):
    out = tmp_path / "t.snnir"
    assert main(["compile", "models/digits_mlp.onnx", "--coding", "ttfs", "-K", "12", "-o", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ttfs_neuron" in text and "steps=12" in text and 'schedule "windowed"' in text
    assert main(["eval", str(out), "--data", "models/data/digits_test.npz", "--json", "--limit", "100",
                 "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["snn_accuracy"] > 0.9 and report["agreement"] > 0.9
    assert report["latency_steps"] == 2 * 12                  # two hidden TTFS layers, one window of K each
    assert 0 < report["spikes_per_neuron"] <= 1
    assert main(["eval", str(out), "--data", "models/data/digits_test.npz", "--limit", "20", "--no-progress"]) == 0
    assert "per neuron" in capsys.readouterr().out


@pytest.mark.parametrize("args,model,message", [
    (["-K", "0"], "digits_mlp", "steps per window (-K) must be an integer >= 1"),
    (["--stat", "max-input-current"], "digits_mlp", "use --stat max or percentile"),
    ([], "digits_silu", "TTFS codes ReLU values only"),
])
def test_cli_bad_options_and_gates_are_clear_errors(tmp_path, capsys, args, model, message):
    code = main(["compile", f"models/{model}.onnx", "--coding", "ttfs", *args, "-o", str(tmp_path / "t.snnir"),
                 "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_passes_lists_the_coding_and_its_pass(capsys):
    assert main(["passes"]) == 0
    out = capsys.readouterr().out
    assert "lower-ttfs" in out and "ttfs" in out.split("codings:")[1]


def test_precondition_names_the_gates_ttfs_cannot_take():
    assert ttfs_precondition(onnx_to_ir(load_onnx("models/digits_resnet.onnx"))) == []
    problems = ttfs_precondition(onnx_to_ir(load_onnx("models/digits_silu.onnx")))
    assert problems and all("--coding amos" in p.fix for p in problems)
    from snncc.check import check_model

    silu = check_model("models/digits_silu.onnx", codings=["ttfs", "amos"])
    assert silu.verdict("ttfs").status == "blocked" and silu.verdict("amos").status == "works"
    assert any("TTFS codes ReLU values only" in b.why for b in silu.verdict("ttfs").blockers)
    assert check_model("models/digits_resnet.onnx", codings=["ttfs"]).verdict("ttfs").status == "works"


def test_maxpool_that_does_not_read_a_relu_is_refused(tmp_path, capsys):
    import numpy as np
    import onnx
    from onnx import helper

    from tests.helpers import make_model

    init = {"w": np.ones((2, 1, 3, 3), np.float32), "lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["c"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Clip", ["p", "lo", "hi"], ["y"], name="clip")]
    path = tmp_path / "pool_first.onnx"
    onnx.save(make_model(nodes, [1, 4, 4], [2, 2, 2], init), path)
    code = main(["compile", str(path), "--coding", "ttfs", "-o", str(tmp_path / "t.snnir"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "%pool" in err and "is not a ReLU; TTFS pools the first spike" in err and "Traceback" not in err
