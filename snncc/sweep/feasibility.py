"""Which codings a sweep compiles: the one place that asks `snncc check` (its Python API `check_model`).

A coding the check finds blocked is recorded as infeasible, with the blockers and what would work, without being
compiled; the options of single points (a T a coding refuses) are still found by compiling them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    coding: str
    ok: bool
    reason: str = ""


def coding_verdicts(model_path: str, codings: list[str], calib: str | None = None) -> list[Verdict]:
    """The check's verdict per coding; a model with dynamic input axes takes their size from the calibration data."""
    from snncc.check import check_model
    from snncc.check.table import blocker_summary

    report = check_model(model_path, codings=codings, input_shapes=_shapes_from(model_path, calib))
    verdicts = []
    for v in report.verdicts:
        reason = blocker_summary(v.blockers)
        if v.suggestion:
            reason += f" (would work: {v.suggestion})"
        verdicts.append(Verdict(v.coding, bool(v.ok), reason))
    return verdicts


def _shapes_from(model_path: str, calib: str | None) -> dict | None:
    if not calib:
        return None
    from pathlib import Path

    from snncc.calibration_file import CalibrationFile
    from snncc.frontend.input_shape import needs_input_shapes, shapes_from_calibration
    from snncc.frontend.load import read_model

    raw = read_model(Path(model_path))
    if not needs_input_shapes(raw):
        return None
    return shapes_from_calibration(raw, CalibrationFile(calib).shape[1:])   # its header: no data read
