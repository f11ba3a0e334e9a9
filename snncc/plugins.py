"""User passes from outside snncc: `--plugin my_module` (an importable module or a path to a .py file) and the entry
point group `snncc.passes`. A plugin registers its passes (and codings, gates, converters) when it is imported, with
the same decorators snncc uses itself (`snncc.register_pass`, ...)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from snncc.errors import OptionError

ENTRY_POINT_GROUP = "snncc.passes"


def _import_path(path: Path) -> ModuleType:
    if not path.is_file():
        raise OptionError(f"--plugin {path}: no such file")
    name = f"snncc_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise OptionError(f"--plugin {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _import_name(name: str) -> ModuleType:
    # like `python -m`: a module in the current folder is importable by name
    here = os.getcwd()
    added = here not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.split(".")[0] == exc.name.split(".")[0]:
            raise OptionError(f"--plugin {name}: no module named {exc.name!r}; give a module importable from here "
                              "(on PYTHONPATH or in the current folder) or the path to a .py file") from None
        raise
    finally:
        if added:
            sys.path.remove(here)


def load_plugin(spec: str) -> ModuleType:
    """Import `spec` (a module name, or a path ending in .py) so that its passes register; OptionError when it cannot
    be found or fails while importing (the message names the plugin and the error)."""
    is_path = spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec)
    try:
        return _import_path(Path(spec)) if is_path else _import_name(spec)
    except OptionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code: its failure is reported, not a snncc bug
        raise OptionError(f"--plugin {spec} failed while importing: {type(exc).__name__}: {exc}") from None


def load_entry_points() -> list[str]:
    """Import every module registered under the `snncc.passes` entry point group (installed packages that declare
    `[project.entry-points."snncc.passes"] name = "module"`); returns their names."""
    from importlib.metadata import entry_points

    loaded = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            point.load()
        except Exception as exc:  # noqa: BLE001
            raise OptionError(f"entry point {point.name} = {point.value} (group {ENTRY_POINT_GROUP}) failed to load: "
                              f"{type(exc).__name__}: {exc}") from None
        loaded.append(point.name)
    return loaded


def load_plugins(specs: tuple[str, ...] | list[str] = ()) -> None:
    """The entry points, then each `--plugin`."""
    load_entry_points()
    for spec in specs:
        load_plugin(spec)
