"""`--insert-after ANCHOR:PASS{opts}` / `--insert-before`: add passes to a coding's default pipeline without retyping
it. The anchor is a pass name of that pipeline (its first occurrence); the inserted item is a pipeline item."""

from __future__ import annotations

from snncc.errors import OptionError
from snncc.passes.registry import format_pipeline, parse_pipeline


def _split(flag: str, text: str) -> tuple[str, str]:
    anchor, sep, item = text.partition(":")
    if not sep or not anchor.strip() or not item.strip():
        raise OptionError(f"{flag} {text!r}: write ANCHOR:PASS or ANCHOR:PASS{{key=value,...}}, e.g. "
                          f"{flag} fold-bn:my-pass{{factor=2}}")
    return anchor.strip(), item.strip()


def insert_passes(pipeline: str, after: tuple[str, ...] = (), before: tuple[str, ...] = ()) -> str:
    """`pipeline` with each `ANCHOR:ITEM` of `after` inserted after the anchor pass and each of `before` before it,
    in the order given; OptionError for an anchor not in the pipeline or an unknown inserted pass."""
    items = parse_pipeline(pipeline)
    for flag, edits, offset in (("--insert-after", after, 1), ("--insert-before", before, 0)):
        for text in edits:
            anchor, item = _split(flag, text)
            try:
                new = parse_pipeline(item)
            except OptionError as exc:
                raise OptionError(f"{flag} {text!r}: {exc} (a pass of your own: load its module with --plugin)") \
                    from None
            names = [name for name, _ in items]
            if anchor not in names:
                raise OptionError(f"{flag} {text!r}: no pass {anchor!r} in the pipeline; its passes are "
                                  f"{', '.join(names)}")
            at = names.index(anchor) + offset
            items[at:at] = new
    return format_pipeline(items)
