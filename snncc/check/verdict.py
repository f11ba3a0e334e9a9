"""What `snncc check` answers: per coding, works or what stops it and what would work."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from snncc.passes.preconditions import Blocker

WORKS, BLOCKED, UNCHECKED = "works", "blocked", "unchecked"


@dataclass(frozen=True)
class Verdict:
    """One coding's verdict. `status`: works, blocked, or unchecked (a lowering pass registers no precondition, so
    only the graph-only passes were tried). `blockers` stop it; `notes` do not (non-spiking products, ...)."""

    coding: str
    status: str
    blockers: tuple[Blocker, ...] = ()
    notes: tuple[Blocker, ...] = ()
    suggestion: str = ""
    unchecked: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != BLOCKED


@dataclass(frozen=True)
class CheckReport:
    """The verdicts for one model, its input shape and how long the check took."""

    model: str
    input_shapes: dict[str, tuple[int, ...]]
    verdicts: tuple[Verdict, ...]
    seconds: float
    profile: str | None = None
    notes: tuple[str, ...] = field(default=())

    def working(self) -> list[str]:
        return [v.coding for v in self.verdicts if v.status == WORKS]

    def verdict(self, coding: str) -> Verdict:
        return next(v for v in self.verdicts if v.coding == coding)

    def to_json(self) -> dict:
        out = {"model": self.model, "input_shapes": {k: list(v) for k, v in self.input_shapes.items()},
               "seconds": round(self.seconds, 3), "profile": self.profile, "notes": list(self.notes),
               "works": self.working(), "codings": {}}
        for v in self.verdicts:
            out["codings"][v.coding] = {"status": v.status, "blockers": [asdict(b) for b in v.blockers],
                                        "notes": [asdict(b) for b in v.notes], "suggestion": v.suggestion,
                                        "unchecked_passes": list(v.unchecked)}
        return out
