"""Which codings a sweep compiles: the one place that asks `snncc check` (its Python API `check_model`).

Until `snncc.check` is available every requested coding is tried, and a point that fails to compile is recorded as
infeasible with the compiler's message, so the answer is the same, only found later."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    coding: str
    ok: bool
    reason: str = ""


def coding_verdicts(model_path: str, codings: list[str]) -> list[Verdict]:
    try:
        from snncc.check import check_model
    except ImportError:
        return [Verdict(c, True) for c in codings]
    report = check_model(model_path, codings=codings)
    verdicts = []
    for v in report.verdicts:
        reason = "; ".join(str(b) for b in (v.blockers or []))
        if getattr(v, "suggestion", None):
            reason += f" ({v.suggestion})"
        verdicts.append(Verdict(v.coding, bool(v.ok), reason))
    return verdicts
