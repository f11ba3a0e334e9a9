"""Compiled IR does not depend on the CPU: calibration runs in float64 and the gate fitter solves its normal
equations without LAPACK, so BLAS kernels that round float32 sums differently (OpenBLAS picks them by CPU) give
the same bytes. Two kernels every x86-64 CPU runs (and the default) are compared in fresh processes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compile(model: str, coding: str, out: Path, coretype: str | None) -> bytes:
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env["SNNCC_GATE_CACHE"] = "off"    # every compile fits its own circuits: a cache hit would hide a difference
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    subprocess.run([sys.executable, "-m", "snncc.cli", "compile", str(ROOT / "models" / model), "--coding", coding,
                    "-o", str(out)], check=True, env=env, capture_output=True, cwd=ROOT)
    return out.read_bytes()


@pytest.mark.parametrize("model, coding", [("mnist_cnn.onnx", "rate"), ("digits_silu.onnx", "amos")])
def test_same_bytes_with_other_blas_kernels(tmp_path, model, coding):
    default = _compile(model, coding, tmp_path / "default.snnir", None)
    for kernel in ("Prescott", "Haswell"):
        assert _compile(model, coding, tmp_path / f"{kernel}.snnir", kernel) == default, kernel
