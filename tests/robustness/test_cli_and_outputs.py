"""The CLI's error contract (one message, exit 2, --debug traceback, usage errors) and all-or-nothing outputs:
an error or a Ctrl-C (SIGINT to a real `snncc compile` during calibration of a bundled model) leaves nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import snncc
from snncc.cli import main
from snncc.errors import OutputError
from tests.robustness.util import assert_clean_failure, calib, run_cli, save_model, tiny_model


def _model_and_calib(tmp_path):
    model = save_model(tiny_model(), tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", x=calib())
    return model, str(tmp_path / "c.npz")


def test_all_outputs_are_written_together(tmp_path, capsys):
    model, c = _model_and_calib(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run_cli(capsys, "compile", model, "--calib", c, "-o", out / "m.snnir", "--emit-text", out / "m.txt",
                           "--emit-program", out / "prog", "--no-progress")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["m.snnir", "m.txt", "prog"]
    assert sorted(p.name for p in (out / "prog").iterdir()) == ["program.json", "snn_kernels", "snn_program.py",
                                                                 "weights.npz"]
    assert (out / "m.snnir").stat().st_mode & 0o044 == 0o044 & ~_umask()    # not mkstemp's 0600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("args, needles", [
    (["compile", "MODEL", "-T", "0", "-o", "o.snnir"], ["Usage:", "-T", "0 is not in the range"]),
    (["compile", "MODEL", "--coding", "morse", "-o", "o.snnir"], ["Usage:", "unknown coding 'morse'", "rate"]),
    (["--max-memory", "much", "compile", "MODEL", "-o", "o.snnir"], ["Usage:", "--max-memory"]),
    (["eval", "x.snnir", "--data", "d.npz", "--batch-size", "0"], ["Usage:", "--batch-size"]),
    (["compile", "MODEL"], ["Usage:", "-o"]),
    (["eval", "x.snnir", "--data", "d.npz", "--seed", "-5"], ["Usage:", "--seed"]),
])
def test_bad_options_are_usage_errors(tmp_path, capsys, args, needles):
    model, _ = _model_and_calib(tmp_path)
    code, _, err = run_cli(capsys, *[model if a == "MODEL" else a for a in args])
    assert code == 2 and "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_debug_shows_the_traceback(tmp_path, capsys):
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    code, _, err = run_cli(capsys, "--debug", "compile", tmp_path / "junk.onnx", "-o", tmp_path / "o.snnir")
    assert code == 2 and "Traceback" in err and "ModelLoadError" in err and "error: " in err


def test_a_missing_output_folder_fails_before_compiling(tmp_path, capsys, monkeypatch):
    model, c = _model_and_calib(tmp_path)
    monkeypatch.setattr(snncc, "compile", lambda *a, **k: pytest.fail("compiled although the output is unwritable"))
    code, _, err = run_cli(capsys, "compile", model, "--calib", c, "-o", tmp_path / "no" / "such" / "m.snnir")
    assert_clean_failure(code, err, "does not exist", "create it first")
    code, _, err = run_cli(capsys, "compile", model, "--calib", c, "-o", tmp_path)
    assert code == 2 and "is a directory" in err           # click's usage error


def _listing(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_failing_emit_leaves_no_output_at_all(tmp_path, capsys, monkeypatch):
    model, c = _model_and_calib(tmp_path)
    before = _listing(tmp_path)
    import snncc.backends.simulator as sim

    def half_then_fail(graph, folder):
        (folder / "program.json").write_text("{")
        raise OutputError("disk full (simulated)")

    monkeypatch.setattr(sim, "emit_program", half_then_fail)
    code, _, err = run_cli(capsys, "compile", model, "--calib", c, "-o", tmp_path / "m.snnir",
                           "--emit-text", tmp_path / "m.txt", "--emit-program", tmp_path / "prog", "--no-progress")
    assert_clean_failure(code, err, "disk full")
    assert _listing(tmp_path) == before


def test_keyboard_interrupt_during_the_commit_still_writes_everything(tmp_path, capsys, monkeypatch):
    # Ctrl-C is held back while the outputs are renamed into place: all of them land, then exit 130
    model, c = _model_and_calib(tmp_path)
    import snncc.outputs as outputs

    real_replace = os.replace
    calls = []

    def replace_then_interrupt(src, dst):
        real_replace(src, dst)
        if not calls:
            os.kill(os.getpid(), signal.SIGINT)
        calls.append(dst)

    monkeypatch.setattr(outputs.os, "replace", replace_then_interrupt)
    code, _, err = run_cli(capsys, "compile", model, "--calib", c, "-o", tmp_path / "m.snnir",
                           "--emit-text", tmp_path / "m.txt", "--no-progress")
    assert code == 130 and "interrupted" in err
    assert (tmp_path / "m.snnir").is_file() and (tmp_path / "m.txt").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_keyboard_interrupt_injected_before_the_commit(tmp_path, capsys, monkeypatch):
    model, c = _model_and_calib(tmp_path)
    before = _listing(tmp_path)
    import snncc.ir as ir

    def interrupted(graph):
        raise KeyboardInterrupt

    monkeypatch.setattr(ir, "to_text", interrupted)
    code, _, err = run_cli(capsys, "compile", model, "--calib", c, "-o", tmp_path / "m.snnir",
                           "--emit-text", tmp_path / "m.txt", "--no-progress")
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert _listing(tmp_path) == before


_SLOW_CALIBRATION = textwrap.dedent("""
    import importlib, sys, time
    calibrate = importlib.import_module("snncc.passes.calibrate")   # the module (snncc.passes.calibrate is the pass)
    real = calibrate.collect_stats
    def slow(*args, **kwargs):
        print("CALIBRATING", file=sys.stderr, flush=True)
        time.sleep(60)
        return real(*args, **kwargs)
    calibrate.collect_stats = slow
    from snncc.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_during_calibration_of_a_bundled_model(tmp_path, sig, code, word):
    out = tmp_path / "out"
    out.mkdir()
    args = ["compile", "models/digits_mlp.onnx", "-o", str(out / "m.snnir"), "--emit-text", str(out / "m.txt"),
            "--emit-program", str(out / "prog"), "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_CALIBRATION, *args], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    line = ""
    while "CALIBRATING" not in line and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
    assert "CALIBRATING" in line, "the compile never reached calibration"
    proc.send_signal(sig)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == code
    assert word in rest and "Traceback" not in rest
    assert list(out.iterdir()) == []


def test_main_resets_the_memory_cap_between_calls(capsys, monkeypatch):
    from snncc.limits import DEFAULT_MAX_BYTES, max_bytes

    monkeypatch.delenv("SNNCC_MAX_BYTES", raising=False)
    code, out, _ = run_cli(capsys, "--max-memory", "1K", "passes")
    assert code == 0 and "calibrate" in out
    assert max_bytes() == DEFAULT_MAX_BYTES


def test_a_failing_target_mapping_leaves_no_output(tmp_path, capsys):
    model, c = _model_and_calib(tmp_path)
    before = _listing(tmp_path)
    code, _, err = run_cli(capsys, "compile", model, "--calib", c, "-o", tmp_path / "m.snnir", "--target", "nosuch",
                           "--no-progress")
    assert_clean_failure(code, err, "nosuch")
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("pipeline, needle", [
    ("nope", "unknown pass 'nope'"),
    ("fold-bn{", "cannot parse pipeline"),
    ("fold-bn{x=1}", "unexpected keyword"),
    ("calibrate{batch_size=0}", "batch size must be an integer >= 1"),
    ("balance-thresholds{q=500}", "q=500"),
    ("balance-thresholds{q=abc}", "cannot run with {q=abc}"),
    ("fold-bn,lower-phase{phases=inf}", "cannot run with {phases=inf}"),
])
def test_a_bad_pipeline_string_is_a_user_error(tmp_path, capsys, pipeline, needle):
    model, c = _model_and_calib(tmp_path)
    before = _listing(tmp_path)
    code, _, err = run_cli(capsys, "compile", model, "--calib", c, "--pipeline", pipeline, "-o", tmp_path / "m.snnir")
    assert_clean_failure(code, err, needle)
    assert _listing(tmp_path) == before
