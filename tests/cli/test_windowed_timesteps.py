"""-T on the layer-windowed codings: used as the window by bits, never silently ignored by phase and amos, and the
compile summary shows latency and window instead of a meaningless T."""

import json

import pytest

from snncc.cli import main
from snncc.ir import load

MLP = "models/digits_mlp.onnx"


@pytest.mark.parametrize("coding", ["phase", "amos", "ttfs"])
def test_t_on_a_phase_windowed_coding_prints_a_note(coding, tmp_path, capsys):
    out = tmp_path / f"{coding}.snnir"
    assert main(["compile", MLP, "--coding", coding, "-T", "5", "-K", "6", "-o", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"note: -T/--timesteps 5 is not used by --coding {coding}" in err and "-K/--phases" in err
    # two spiking layers of K = 6: 12 steps, one sample every 6
    assert f"wrote {out} (7 nodes, coding {coding}, latency 12 steps, window 6 steps)" in err
    assert "T=" not in err


def test_no_note_without_t(tmp_path, capsys):
    assert main(["compile", MLP, "--coding", "phase", "-o", str(tmp_path / "p.snnir"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "note:" not in err and "latency 16 steps, window 8 steps" in err


def test_bits_takes_t_as_its_window_and_defaults_to_its_own(tmp_path, capsys):
    out = tmp_path / "b.snnir"
    assert main(["compile", MLP, "--coding", "bits", "-o", str(out), "--no-progress"]) == 0   # 32 bits: too many
    err = capsys.readouterr().err
    assert "latency 8 steps, window 4 steps" in err and "note:" not in err
    assert main(["compile", MLP, "--coding", "bits", "-T", "3", "-o", str(out), "--no-progress"]) == 0
    assert "latency 6 steps, window 3 steps" in capsys.readouterr().err
    assert main(["eval", str(out), "--limit", "20", "--timesteps", "16", "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert any(n.startswith("--timesteps is not used by a bits model") for n in report["notes"])
    assert report["latency_steps"] == 6


def test_rate_summary_keeps_t(tmp_path, capsys):
    out = tmp_path / "r.snnir"
    assert main(["compile", MLP, "-o", str(out), "--no-progress"]) == 0
    assert "(7 nodes, coding rate, T=32)" in capsys.readouterr().err
    assert load(out).meta["timesteps"] == "32"
