"""Issue 19 item 20 (the long -o name is in test_output_safety): `snncc passes | head` is not the "differs" exit
code, a blank --pipeline and an unknown --print-after are user errors instead of being ignored."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests.robustness.util import assert_clean_failure, calib, run_cli, save_model, tiny_model


def test_a_closed_pipe_is_not_the_differs_code(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from snncc.cli import main; sys.exit(main())",
                             "passes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()            # the reader (`| head`) is gone before snncc writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err


@pytest.mark.parametrize("args, needle", [
    (["--pipeline", "   "], "--pipeline is empty"),
    (["--pipeline", ""], "--pipeline is empty"),
    (["--print-after", "UNKNOWN"], "--print-after 'UNKNOWN' names no pass"),
    (["--pipeline", "fold-bn,lower-rate", "--print-after", "calibrate"], "one of fold-bn, lower-rate"),
])
def test_blank_or_unknown_pass_options_are_user_errors(tmp_path, capsys, args, needle):
    save_model(tiny_model(), tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", x=calib())
    code, _, err = run_cli(capsys, "compile", tmp_path / "m.onnx", "--calib", tmp_path / "c.npz", "-o",
                           tmp_path / "o.snnir", "--no-progress", *args)
    assert_clean_failure(code, err, needle)
    assert not (tmp_path / "o.snnir").exists()
