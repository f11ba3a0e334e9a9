"""Issue 19 item 18: a Ctrl-C or SIGTERM while the `snncc` command is still importing (a second or more) exits 130
with "interrupted" / 143 with "terminated", never a KeyboardInterrupt traceback or a silent death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.robustness.util import calib, save_model, tiny_model

LAUNCHER = """#!{python}
import sys
from snncc.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("sig, delay, code, word", [
    (signal.SIGINT, 0.3, 130, "interrupted"), (signal.SIGINT, 0.8, 130, "interrupted"),
    (signal.SIGTERM, 0.3, 143, "terminated"), (signal.SIGTERM, 0.8, 143, "terminated"),
])
def test_a_signal_during_start_up(tmp_path, sig, delay, code, word):
    script = tmp_path / "snncc"             # named like the installed command
    script.write_text(LAUNCHER.format(python=sys.executable))
    script.chmod(0o755)
    save_model(tiny_model(), tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", x=calib())
    proc = subprocess.Popen([str(script), "compile", "m.onnx", "--calib", "c.npz", "-o", "o.snnir",
                             "--no-progress"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(sig)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == code, err
    assert word in err and "Traceback" not in err, err
    assert not (tmp_path / "o.snnir").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _finish(proc: subprocess.Popen, code: int, word: str, already: bytes = b"") -> str:
    err = (already + proc.stderr.read()).decode(errors="replace")
    assert proc.wait(timeout=60) == code, err
    assert "Traceback" not in err, err
    assert err.replace("\r", "\n").strip().splitlines()[-1].strip() == word, err
    return err


def _signal_once_working(proc: subprocess.Popen, sig: int) -> bytes:
    """Send `sig` once the process has written to stderr (a progress bar: its imports are done, work started)."""
    first = os.read(proc.stderr.fileno(), 4096)
    time.sleep(0.3)
    proc.send_signal(sig)
    return first


SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]


@pytest.mark.parametrize("sig, code, word", SIGNALS)
@pytest.mark.parametrize("delay", [0.3, 0.8])
def test_python_m_snncc_during_start_up(tmp_path, sig, code, word, delay):
    save_model(tiny_model(), tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", x=calib())
    proc = subprocess.Popen([sys.executable, "-m", "snncc", "compile", "m.onnx", "--calib", "c.npz", "-o", "o.snnir",
                             "--no-progress"], cwd=tmp_path, stderr=subprocess.PIPE, env=_env())
    time.sleep(delay)
    proc.send_signal(sig)
    _finish(proc, code, word)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz", "m.onnx"]


@pytest.mark.parametrize("sig, code, word", SIGNALS)
def test_python_m_snncc_mid_work(emitted, tmp_path, sig, code, word):
    """Mid-simulation (a long eval: the progress bar is out, so the imports are done)."""
    proc = subprocess.Popen([sys.executable, "-m", "snncc", "eval", str(emitted / "m.snnir"), "--data",
                             str(emitted / "x.npz"), "--timesteps", "60000", "--batch-size", "64", "--progress",
                             "--plot", "p.png"], cwd=tmp_path, stderr=subprocess.PIPE, env=_env())
    first = _signal_once_working(proc, sig)
    _finish(proc, code, word, first)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("emitted")
    save_model(tiny_model(), folder / "m.onnx")
    np.savez(folder / "c.npz", x=calib())
    np.savez(folder / "x.npz", x=calib(n=4096), y=np.zeros(4096, np.int64))
    from snncc.cli import main

    assert main(["compile", str(folder / "m.onnx"), "--calib", str(folder / "c.npz"), "-o", str(folder / "m.snnir"),
                 "--emit-program", str(folder / "prog"), "--no-progress"]) == 0
    return folder


@pytest.mark.parametrize("sig, code, word", SIGNALS)
@pytest.mark.parametrize("when", ["importing", "running"])
def test_the_emitted_program(emitted, tmp_path, sig, code, word, when):
    proc = subprocess.Popen([sys.executable, str(emitted / "prog" / "snn_program.py"), str(emitted / "x.npz"),
                             "--timesteps", "100000", "--batch-size", "64", "--progress", "--out", "pred.txt"],
                            cwd=tmp_path, stderr=subprocess.PIPE, env=_env())
    if when == "importing":   # as soon as the script's first lines installed its handlers, while NumPy imports
        _wait_for_handlers(proc.pid)
        proc.send_signal(sig)
        first = b""
    else:
        first = _signal_once_working(proc, sig)
    _finish(proc, code, word, first)
    assert list(tmp_path.iterdir()) == []   # no predictions, no temporary file


def _wait_for_handlers(pid: int) -> None:
    """Until the process catches SIGTERM (Python itself never does): its own first lines have run."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as f:
            caught = int(next(line for line in f if line.startswith("SigCgt:")).split()[1], 16)
        if caught >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.001)
    raise AssertionError("the program never installed its signal handlers")


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.getcwd())
