"""Every Python package folder is installed: `ir/` and `backends/` as snncc.ir and snncc.backends (pyproject)."""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PREFIX = {"snncc": "snncc", "ir": "snncc.ir", "backends": "snncc.backends"}


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    assert config["package-dir"] == {"snncc": "snncc", "snncc.ir": "ir", "snncc.backends": "backends"}
    found = set()
    for top, name in PREFIX.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *rel)))
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
