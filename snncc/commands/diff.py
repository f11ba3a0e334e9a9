"""`snncc diff A B`: a semantic, node-by-node diff of two compiled graphs (binary .snnir or text form)."""

from __future__ import annotations

import click

from snncc.errors import ModelLoadError, OptionError


def read_graph(path: str, command: str = "inspect", *, weights: bool = False, lazy: bool = False):
    """A compiled graph from a .snnir file or its text form; unreadable files are a ModelLoadError. With `weights`,
    text whose tensors are hashed (the `inspect` / `--emit-text` form, which has no values) is refused too.
    `lazy`: a .snnir's constants stay in the file until used (`ir.lazy_load`)."""
    from snncc.compiled_input import read_compiled
    from snncc.ir.parse import has_summaries

    graph = read_compiled(path, command, text_too=True, lazy=lazy)
    hashed = has_summaries(graph) if weights else []
    if hashed:
        raise ModelLoadError(f"{path}: a text IR with hashed tensors ({', '.join('@' + h for h in hashed[:3])}"
                             f"{', ...' if len(hashed) > 3 else ''}) has no weights to run or map; use the .snnir "
                             "file, or text written with `snncc export --format text --full`")
    return graph


@click.command("diff")
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--tolerance", type=float, default=0.0, show_default=True,
              help="Floats within this absolute difference count as equal.")
@click.option("--ignore-header", multiple=True, metavar="KEY",
              help="Do not compare this header entry (repeatable), e.g. source or producer.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when the graphs differ, 0 when equal (2 on error).")
@click.pass_context
def diff_cmd(ctx: click.Context, old: str, new: str, tolerance: float, ignore_header: tuple[str, ...],
             exit_code: bool) -> None:
    """Compare compiled graphs OLD and NEW node by node: added/removed nodes, changed attributes (old -> new),
    changed tensors (shape, changed elements, max |diff|) and changed header entries."""
    from snncc.ir.diff import diff

    if not tolerance >= 0:
        raise OptionError(f"--tolerance must be >= 0, got {tolerance}")
    result = diff(read_graph(old, "diff"), read_graph(new, "diff"), tolerance=tolerance,
                  ignore_header=ignore_header)
    click.echo(result.format(old, new), nl=False)
    if exit_code and not result.equal:
        ctx.exit(1)
