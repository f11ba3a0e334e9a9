"""Issue 19 item 18: a Ctrl-C or SIGTERM while the `snncc` command is still importing (a second or more) exits 130
with "interrupted" / 143 with "terminated", never a KeyboardInterrupt traceback or a silent death."""

from __future__ import annotations

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
