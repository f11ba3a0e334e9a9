"""Graph-only preconditions of passes: what a pass would refuse, found without calibration data.

A lowering pass registers its precondition next to itself (`@register_precondition("lower-rate")`); `snncc check`
runs a coding's pipeline on the converted graph, the graph-only passes for real until the first one that needs
calibration data, and from there each later pass's precondition on the graph as it stands. A precondition therefore
sees the graph *before* the data passes: ReLUs without thresholds yet (`relu`, `clip`), MaxPools not yet rewritten,
and `view.ran("maxpool-to-relu-tree")` says whether a pass comes earlier in the same pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from snncc.ir import Graph


@dataclass(frozen=True)
class Blocker:
    """One reason a pass cannot take the graph: the node and op (None for the whole graph), why, and what to do.
    `blocking=False` marks a note: the pass takes the node, but not as the user may expect (a non-spiking mul)."""

    node: str | None
    op: str | None
    why: str
    fix: str = ""
    blocking: bool = True
    pass_name: str = ""    # set by the check: the pass whose precondition (or run) found it

    def __str__(self) -> str:
        where = f"%{self.node} ({self.op}): " if self.node else ""
        return where + self.why


@dataclass(frozen=True)
class PipelineView:
    """What a precondition knows about its place in the pipeline: its own options and the passes before it."""

    options: dict[str, Any] = field(default_factory=dict)
    before: tuple[str, ...] = ()

    def ran(self, name: str) -> bool:
        return name in self.before


Precondition = Callable[[Graph, PipelineView], list[Blocker]]
PRECONDITIONS: dict[str, list[Precondition]] = {}


def register_precondition(pass_name: str) -> Callable[[Precondition], Precondition]:
    """Decorator: `fn(graph, view) -> [Blocker]` states, from the graph alone, what pass `pass_name` refuses."""
    def wrap(fn: Precondition) -> Precondition:
        PRECONDITIONS.setdefault(pass_name, []).append(fn)
        return fn
    return wrap


def preconditions_for(pass_name: str) -> list[Precondition]:
    return list(PRECONDITIONS.get(pass_name, ()))


def gate_blockers(graph: Graph, gates, coding: str, fix: str = "--coding amos lowers any gate to a spiking "
                  "circuit") -> list[Blocker]:
    """A blocker per node whose op is one of `gates` (ops a ReLU-only coding cannot express)."""
    return [Blocker(n.name, n.op, f"{coding} coding cannot express a {n.op} gate (only ReLU/Clip)", fix)
            for n in graph.nodes if n.op in gates]
