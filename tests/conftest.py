"""Shared pytest configuration: the `--update-golden` switch (tests/golden), and a private gate-fit cache."""

import os
import shutil
import tempfile

_GATE_CACHE = {}


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="Rewrite tests/golden/ (manifest and text IR files) from the current compiler instead of "
                          "comparing against it; review the result with `git diff tests/golden`.")


def pytest_configure(config):
    # the tests never read or write the user's ~/.cache/snncc/gates: a fresh folder per run (subprocesses inherit it)
    folder = tempfile.mkdtemp(prefix="snncc-test-gates-")
    _GATE_CACHE["folder"], _GATE_CACHE["previous"] = folder, os.environ.get("SNNCC_GATE_CACHE")
    os.environ["SNNCC_GATE_CACHE"] = folder


def pytest_unconfigure(config):
    if "folder" not in _GATE_CACHE:
        return
    shutil.rmtree(_GATE_CACHE.pop("folder"), ignore_errors=True)
    previous = _GATE_CACHE.pop("previous")
    if previous is None:
        os.environ.pop("SNNCC_GATE_CACHE", None)
    else:
        os.environ["SNNCC_GATE_CACHE"] = previous
