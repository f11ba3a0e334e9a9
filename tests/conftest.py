"""Shared pytest configuration: the `--update-golden` switch (tests/golden)."""


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="Rewrite tests/golden/ (manifest and text IR files) from the current compiler instead of "
                          "comparing against it; review the result with `git diff tests/golden`.")
