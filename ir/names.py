"""Stable, human-meaningful value names: sanitised ONNX names, clashes resolved with _1, _2, ..."""

from __future__ import annotations

import re

_BAD = re.compile(r"[^A-Za-z0-9_.]+")


def sanitize(name: str, fallback: str = "v") -> str:
    """`/layer1/conv/Conv_output_0` -> `layer1.conv.Conv_output_0`: letters, digits, `_` and `.` only."""
    cleaned = _BAD.sub("_", name.strip("/").replace("/", ".")).strip("._")
    if not cleaned:
        cleaned = fallback
    if cleaned[0].isdigit():
        cleaned = f"{fallback}{cleaned}"
    return cleaned


class NameTable:
    """Hands out unique names: the first request for `x` gets `x`, later ones `x_1`, `x_2`, ..."""

    def __init__(self, taken: set[str] | frozenset[str] = frozenset()) -> None:
        self._taken = set(taken)
        self._next: dict[str, int] = {}   # base -> the suffix to try first: every smaller one is taken

    def fresh(self, wanted: str) -> str:
        base = sanitize(wanted)
        n = self._next.get(base, 0)   # names are never released, so a clash series resumes where it stopped
        name = base if n == 0 else f"{base}_{n}"
        while name in self._taken:
            n += 1
            name = f"{base}_{n}"
        self._next[base] = n + 1
        self._taken.add(name)
        return name

    def __contains__(self, name: str) -> bool:
        return name in self._taken
