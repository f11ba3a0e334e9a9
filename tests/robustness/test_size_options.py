"""Issue 19 item 13: size-like options are range-checked before any work: phase coding's K (6000 phases reached
6.2 GB, more crashed) is refused above MAX_PHASES from the command line and from a pipeline string alike."""

from __future__ import annotations

import numpy as np
import pytest

import snncc
from snncc.passes.lower_phase import MAX_PHASES
from tests.robustness.util import assert_clean_failure, calib, run_cli, save_model, tiny_model


@pytest.mark.parametrize("args", [
    ["--coding", "phase", "-K", str(MAX_PHASES + 1)],
    ["--coding", "phase", "-K", "6000"],
    ["--coding", "phase", "-K", str(10 ** 30)],
    ["--pipeline", f"fold-bn,calibrate,balance-thresholds,lower-phase{{phases={10 ** 6}}}"],
])
def test_too_many_phases_are_refused(tmp_path, capsys, args):
    save_model(tiny_model(), tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", x=calib())
    code, _, err = run_cli(capsys, "compile", tmp_path / "m.onnx", "--calib", tmp_path / "c.npz", "-o",
                           tmp_path / "o.snnir", "--no-progress", *args)
    assert_clean_failure(code, err, f"at most {MAX_PHASES}")
    assert not (tmp_path / "o.snnir").exists()


def test_the_largest_k_still_compiles(tmp_path):
    save_model(tiny_model(), tmp_path / "m.onnx")
    graph = snncc.compile(str(tmp_path / "m.onnx"), "phase", calibration=calib(), phases=MAX_PHASES)
    assert {n.phases for n in graph.nodes if n.op == "phase_neuron"} == {MAX_PHASES}
