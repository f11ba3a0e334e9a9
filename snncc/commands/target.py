"""`snncc compile ... --target PROFILE`: map the compiled graph right after writing it."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np


def map_output_path(output_path: str | Path) -> Path:
    """OUTPUT.snnir -> OUTPUT.map.json (any other suffix is replaced the same way)."""
    return Path(output_path).with_suffix(".map.json")


def map_after_compile(graph, target: str, output_path: str | Path, calibration: np.ndarray | None) -> Path:
    """Map `graph` onto profile `target` (name or JSON file) and write OUTPUT.map.json next to the .snnir."""
    from snncc.commands.map import format_summary, write_mapping

    path = map_output_path(output_path)
    doc = write_mapping(graph, target, path, calibration)
    click.echo(format_summary(doc), err=True)
    click.echo(f"wrote {path}", err=True)
    return path
