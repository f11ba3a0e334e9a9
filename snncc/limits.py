"""The memory cap: sizes declared by input files are checked against it *before* anything is allocated for them.

The cap comes from, in order: `snncc --max-memory SIZE`, the environment variable `SNNCC_MAX_BYTES`, or the default
(4 GiB). SIZE is a byte count with an optional binary suffix: `512M`, `8G`, `1.5G`, `65536`.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Iterator

from snncc.errors import OptionError, ResourceLimitError

ENV_VAR = "SNNCC_MAX_BYTES"
DEFAULT_MAX_BYTES = 4 << 30
# Samples per batch the compiler and simulator run at once (calibration, eval): declared activation sizes are
# multiplied by it when estimating the working set.
WORKING_BATCH = 256

_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_override: int | None = None


def parse_bytes(text: str) -> int:
    """`"512M"` -> 536870912; OptionError for anything that is not a positive size."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), flags=re.IGNORECASE)
    if not m:
        raise OptionError(f"memory cap {text!r} is not a size; use a byte count or e.g. 512M, 8G")
    value = int(float(m.group(1)) * _SUFFIXES[m.group(2).upper()])
    if value <= 0:
        raise OptionError(f"memory cap {text!r} must be positive")
    return value


def max_bytes() -> int:
    """The cap in effect now."""
    if _override is not None:
        return _override
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            return parse_bytes(env)
        except OptionError:
            raise OptionError(f"{ENV_VAR}={env!r} is not a size; use a byte count or e.g. 512M, 8G") from None
    return DEFAULT_MAX_BYTES


def set_max_bytes(value: int | str | None) -> None:
    """Set (or with None, clear) the process-wide override of the cap."""
    global _override
    _override = None if value is None else (parse_bytes(value) if isinstance(value, str) else int(value))


@contextlib.contextmanager
def memory_cap(value: int | str) -> Iterator[None]:
    """Temporarily set the cap (tests)."""
    global _override
    saved = _override
    set_max_bytes(value)
    try:
        yield
    finally:
        _override = saved


def human(nbytes: int) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def check_bytes(nbytes: int, what: str) -> None:
    """ResourceLimitError unless `nbytes` (a Python int: never overflows) fits under the cap."""
    cap = max_bytes()
    if nbytes > cap:
        raise ResourceLimitError(f"{what} needs {human(nbytes)}, more than the memory cap of {human(cap)}; "
                                 f"if that is intended, raise the cap with {ENV_VAR}=SIZE or "
                                 "`snncc --max-memory SIZE`")


def element_count(shape) -> int:
    """Product of the dimensions as an exact Python int (numpy's int64 product can overflow to a small number)."""
    count = 1
    for d in shape:
        count *= int(d)
    return count


def read_capped(path, what: str, error: type[Exception]) -> bytes:
    """The bytes of regular file `path`, after checking its size against the cap; `error(message)` naming the path
    when it is missing, not a regular file or unreadable."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such file")
    if not path.is_file():
        raise error(f"{path}: not a regular file")
    check_bytes(path.stat().st_size, f"{path}: {what}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot be read: {exc.strerror or exc}") from None
