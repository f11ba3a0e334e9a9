"""`snncc export MODEL.snnir --format nir -o MODEL.nir`: write a compiled graph in another format."""

from __future__ import annotations

import click

from snncc.errors import OptionError

FORMATS = ("nir", "text", "onnx-step")


@click.command("export")
@click.argument("snnir", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="nir: a NIR graph (HDF5) for the rate coding; text: the text IR; onnx-step: one time step as an "
                   "ONNX model (inputs: the input frame and the state; outputs: the next state and the readout) "
                   "that any ONNX runtime can loop over T.")
@click.option("--full", is_flag=True,
              help="text: print every tensor in full, so the text parses back to the exact graph.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Output file.")
def export_cmd(snnir: str, fmt: str, full: bool, output: str) -> None:
    """Export a compiled graph SNNIR (.snnir or its full text form) to another format."""
    from snncc.commands.diff import read_graph
    from snncc.ir.atomic_write import atomic_write
    from snncc.ir.parse import has_summaries
    from snncc.ir.text import to_text

    if full and fmt != "text":
        raise OptionError("--full applies to --format text only")
    from snncc.outputs import check_distinct, check_target

    check_distinct({"SNNIR": snnir}, {"-o": output})
    check_target(output)
    graph = read_graph(snnir, "export")
    hashed = has_summaries(graph)
    if hashed and (fmt in ("nir", "onnx-step") or full):
        raise OptionError(f"{snnir} is a text IR with hashed tensors ({', '.join('@' + h for h in hashed[:3])}"
                          f"{', ...' if len(hashed) > 3 else ''}): it has no weights; export the .snnir file or a "
                          "text form written with --full")
    if fmt == "text":
        atomic_write(output, to_text(graph, full=full))
        click.echo(f"wrote {output} (text IR{', full precision' if full else ''})", err=True)
        return
    if fmt == "onnx-step":
        from snncc.backends.onnx_step.export import export_step_model

        model = export_step_model(graph, output)
        states = len(model.graph.input) - len(graph.inputs)
        click.echo(f"wrote {output} (ONNX step model, {graph.meta.get('schedule', 'concurrent')} schedule, "
                   f"{states} state tensors, opset {model.opset_import[0].version}; onnx.checker passed)", err=True)
        return
    try:
        from snncc.backends.nir_export import export_nir
        import nir  # noqa: F401
    except ImportError as exc:
        raise OptionError(f"NIR export needs the nir and h5py packages ({exc}); pip install 'snncc[nir]'") from None
    export_nir(graph, output)
    click.echo(f"wrote {output} (NIR, {len(graph.nodes)} snncc nodes)", err=True)
