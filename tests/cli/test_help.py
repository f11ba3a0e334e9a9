"""A newcomer's first commands: --version, python -m snncc, and help that explains every option and ends with
examples."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import snncc
from snncc.cli import cli


def _commands():
    return [("snncc", cli)] + [(f"snncc {name}", command) for name, command in sorted(cli.commands.items())]


def test_version_flag():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"snncc {snncc.__version__}"


def test_python_dash_m_snncc_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "snncc", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"snncc {snncc.__version__}"


@pytest.mark.parametrize("label,command", _commands(), ids=[label for label, _ in _commands()])
def test_every_option_has_help(label, command):
    missing = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert not missing, f"{label}: options without help text: {missing}"


@pytest.mark.parametrize("label,command", _commands(), ids=[label for label, _ in _commands()])
def test_every_help_ends_with_two_or_three_examples(label, command):
    args = label.split()[1:] + ["--help"]
    result = CliRunner().invoke(cli, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    head, sep, tail = result.output.rstrip().rpartition("Examples:")
    assert sep, f"{label} --help has no Examples: section"
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    assert 2 <= len(lines) <= 3, f"{label}: {lines}"
    assert all(line.startswith("snncc ") for line in lines), lines
