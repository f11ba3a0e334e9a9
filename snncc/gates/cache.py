"""An on-disk cache of refitted FS circuits, so that a second compile of a model does not refit its gates.

Where: `$SNNCC_GATE_CACHE` if set (`off`, `0` or an empty value disables the cache), else
`$XDG_CACHE_HOME/snncc/gates`, else `~/.cache/snncc/gates`. One JSON file per fit, named
`<gate>-K<K>-<digest>.json`, holding the full key and the circuit (the fields of a gate table entry). The key is
everything the fit depends on: the fitter's version, the gate's name and its values on the fit range (a user gate
re-registered with another function misses), K, the range, the importance (mean, std) and every `FitSettings` field.

A file is only ever parsed as JSON (nothing in it is executed); one that does not parse, holds another key or an
invalid circuit is ignored with a warning and overwritten by the refit. Files are written to a temporary name in the
same folder and renamed, so a reader never sees half a file and concurrent compiles at worst fit twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from snncc.gates.circuit import FSCircuit
from snncc.gates.fit import FITTER_VERSION, FitSettings
from snncc.gates.gate import Gate

CACHE_ENV = "SNNCC_GATE_CACHE"
CACHE_FORMAT = "snncc-gate-fit"
CACHE_VERSION = 1
FINGERPRINT_POINTS = 1025
_OFF = ("", "0", "off", "none", "false")


class GateCacheWarning(UserWarning):
    """A cache file was ignored (unreadable, foreign or corrupt) or the cache folder could not be written."""


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is disabled."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "snncc" / "gates"


def _function_fingerprint(gate: Gate, x_range: tuple[float, float]) -> str:
    """SHA-256 of the gate's float64 values on a fixed grid of the fit range."""
    x = np.linspace(x_range[0], x_range[1], FINGERPRINT_POINTS)
    y = np.ascontiguousarray(np.asarray(gate.function(x), dtype="<f8"))
    return hashlib.sha256(y.tobytes()).hexdigest()


def fit_key(gate: Gate, K: int, x_range: tuple[float, float], mean: float | None, std: float | None,
            settings: FitSettings) -> dict[str, Any]:
    """Everything a refit depends on, as plain JSON values (floats round-trip exactly through JSON)."""
    return {"fitter": FITTER_VERSION, "gate": gate.name, "function_sha256": _function_fingerprint(gate, x_range),
            "K": K, "x_range": [float(x_range[0]), float(x_range[1])], "mean": mean, "std": std,
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(settings).items()}}


def _path(folder: Path, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in key["gate"])[:40]
    return folder / f"{safe}-K{key['K']}-{digest}.json"


def load(key: dict[str, Any]) -> FSCircuit | None:
    """The cached circuit for `key`, or None (cache off, no file, or a file that is ignored with a warning)."""
    from snncc.gates.table import GateTableError, circuit_from_json

    folder = cache_dir()
    if folder is None:
        return None
    path = _path(folder, key)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        warnings.warn(f"ignoring gate cache file {path}: {error}", GateCacheWarning, stacklevel=2)
        return None
    try:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("format") != CACHE_FORMAT \
                or document.get("version") != CACHE_VERSION:
            raise GateTableError(f"not a {CACHE_FORMAT!r} version {CACHE_VERSION} file")
        if document.get("key") != key:
            raise GateTableError("it holds the fit for another key")
        circuit = circuit_from_json(document.get("circuit"))
        if circuit.gate != key["gate"] or circuit.K != key["K"] or not math.isfinite(circuit.max_abs_error):
            raise GateTableError("its circuit does not match the key")
    except (ValueError, GateTableError) as error:
        warnings.warn(f"ignoring gate cache file {path}: {error}; refitting", GateCacheWarning, stacklevel=2)
        return None
    return circuit


def store(key: dict[str, Any], circuit: FSCircuit) -> None:
    """Write the fit atomically; a folder that cannot be written costs a warning, never the compile."""
    from snncc.gates.table import circuit_to_json

    folder = cache_dir()
    if folder is None:
        return
    path = _path(folder, key)
    document = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "key": key, "circuit": circuit_to_json(circuit)}
    handle = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, prefix=path.name, suffix=".tmp", delete=False,
                                         encoding="utf-8") as handle:
            json.dump(document, handle, sort_keys=True)
        os.replace(handle.name, path)
    except OSError as error:
        if handle is not None:
            Path(handle.name).unlink(missing_ok=True)
        warnings.warn(f"cannot write the gate cache in {folder} ({error}); set {CACHE_ENV} to another folder or "
                      f"to 'off'", GateCacheWarning, stacklevel=2)
