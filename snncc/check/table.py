"""The check report as a text table: one row per coding, its verdict, what stops it and what would work."""

from __future__ import annotations

from collections import Counter

from snncc.check.verdict import BLOCKED, CheckReport

SHOWN = 3   # blockers listed per coding; the rest are counted (all of them are in --json)


def _shape(dims) -> str:
    return "x".join("?" if d < 0 else str(d) for d in dims)


def blocker_summary(blockers, shown: int = SHOWN) -> str:
    """The first blockers, '; '-separated, and how many more."""
    parts, last = [], None
    for b in blockers[:shown]:   # the pass is named when it changes
        parts.append((f"pass '{b.pass_name}' refuses " if b.pass_name and b.pass_name != last else "") + str(b))
        last = b.pass_name
    text = "; ".join(parts)
    return text + (f" (and {len(blockers) - shown} more)" if len(blockers) > shown else "")


def format_report(report: CheckReport) -> str:
    shapes = ", ".join(f"{k} {_shape(v)}" for k, v in report.input_shapes.items())
    on = f" on {report.profile}" if report.profile else ""
    lines = [f"{report.model} (input {shapes}){on}: checked in {report.seconds:.2f} s"]
    lines += [f"note: {n}" for n in report.notes]
    width = max([len("coding")] + [len(v.coding) for v in report.verdicts])
    lines.append(f"{'coding':<{width}}  {'verdict':<9}  what stops it / notes")
    for v in report.verdicts:
        details = [str(b) for b in v.blockers[:SHOWN]]
        if len(v.blockers) > SHOWN:
            ops = Counter(b.op for b in v.blockers if b.op)
            details.append(f"... and {len(v.blockers) - SHOWN} more (all: "
                           + ", ".join(f"{op} x{n}" for op, n in ops.most_common()) + ")")
        if v.unchecked:
            details.append(f"{', '.join(v.unchecked)} registers no precondition: only the graph-only passes ran")
        by_source: dict[str, list] = {}     # a pass's notes and a profile's are told apart
        for b in v.notes:
            by_source.setdefault(b.pass_name, []).append(b)
        for notes in by_source.values():
            ops = sorted({b.op or "graph" for b in notes})
            details.append(f"note: {len(notes)} {'/'.join(ops)} node(s): {notes[0].why}")
        if v.status == BLOCKED and v.suggestion:
            details.append(f"would work: {v.suggestion}")
        first, *rest = details or [""]
        lines.append(f"{v.coding:<{width}}  {v.status:<9}  {first}")
        lines += [f"{'':<{width}}  {'':<9}  {d}" for d in rest]
    return "\n".join(lines)
