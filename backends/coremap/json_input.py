"""Reading a JSON file a user hands us (a mapping file, a hardware profile) without trusting it: a regular file only
(a FIFO would block, /dev/zero would never end), checked against a size cap before it is read, nesting at most
MAX_DEPTH deep (deeper nesting only exhausts the parser's stack), and no NaN or Infinity."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from snncc.limits import check_bytes, human

MAX_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def _depth(text: str) -> int:
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: str | os.PathLike, what: str, error: type[Exception], max_bytes: int):
    """The parsed JSON value of file `path`; `error(message)` naming `path` and `what` on any problem."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read this {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: not a regular file; a {what} must be a JSON file")
    if info.st_size > max_bytes:
        raise error(f"{path}: {human(info.st_size)} is too large for a {what} (at most {human(max_bytes)})")
    check_bytes(info.st_size * 16, f"{path}: reading this {what}")   # parsed JSON objects take ~16x the text
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))   # swapped for a FIFO since the stat
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise error(f"{path}: not a regular file; a {what} must be a JSON file")
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read this {what}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise error(f"{path}: too large for a {what} (at most {human(max_bytes)})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a readable JSON {what} (not UTF-8: {exc.reason})") from None
    if _depth(text) > MAX_DEPTH:
        raise error(f"{path}: nested more than {MAX_DEPTH} levels deep; not a {what}")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise error(f"{path}: not a readable JSON {what} ({exc})") from None
