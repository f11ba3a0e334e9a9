"""`import snncc` loads the compiler lazily (`snncc map` never needs it), yet every command that names a coding
sees all of them: each is checked in a fresh interpreter, where no earlier test has imported the passes."""

import pathlib
import subprocess
import sys

import pytest

from snncc.cli import CODING_CHOICES

MODEL = pathlib.Path(__file__).resolve().parents[2] / "models" / "digits_mlp.onnx"


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout


def test_the_registry_lists_every_builtin_coding_without_importing_the_compiler_first():
    names = run("from snncc.pipeline import registered_codings; print(','.join(sorted(registered_codings())))")
    assert names.strip().split(",") == sorted(CODING_CHOICES)


@pytest.mark.parametrize("coding", ["amos", "ttfs"])
def test_the_cli_accepts_a_coding_that_registers_on_import(coding, tmp_path):
    code = ("import sys; from snncc.cli import main; "
            f"sys.argv = ['snncc', 'compile', r'{MODEL}', '--coding', '{coding}', '-o', "
            f"r'{tmp_path / 'm.snnir'}']; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "unknown coding" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.snnir").stat().st_size > 0
