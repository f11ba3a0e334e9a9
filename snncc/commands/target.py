"""`snncc compile ... --target PROFILE`: where the mapping file goes."""

from __future__ import annotations

from pathlib import Path


def map_output_path(output_path: str | Path) -> Path:
    """OUTPUT.snnir -> OUTPUT.map.json (any other suffix is replaced the same way)."""
    return Path(output_path).with_suffix(".map.json")
