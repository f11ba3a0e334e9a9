"""`snncc check MODEL.onnx`: which codings can express the model, from its graph alone, in seconds."""

from __future__ import annotations

import json

import click

EXIT_NONE_WORKS = 2


@click.command("check")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--coding", "codings", multiple=True, help="Check only this coding (repeatable; default: all).")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=DIMS",
              help="Size of a model input with dynamic axes, batch first (x=1x3x224x224; repeat per input).")
@click.option("--calib", default=None, type=click.Path(dir_okay=False),
              help="Calibration data (.npz) whose per-sample shape sizes dynamic input axes, as compile takes it "
                   "(default: MODEL.calib.npz next to the model; only its header is read).")
@click.option("--outputs", default=None, metavar="NAME[,NAME...]",
              help="Check the model cut at these tensors, as `compile --outputs` compiles it.")
@click.option("--profile", default=None, help="Also check the hardware profile's limits (name or JSON file).")
@click.option("-T", "--timesteps", type=click.IntRange(min=1, max=1 << 16), default=None,
              help="T the codings are checked for (default: each coding's own).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_cmd(model, codings, input_shape, calib, outputs, profile, timesteps, as_json):
    """Say, for each coding, whether MODEL (.onnx) compiles, what stops it (node, op, why) and what would work.

    Reads the graph only (no calibration data). Exit status 0 when at least one coding works (or is unchecked:
    its lowering registers no precondition), 2 when none does or the model cannot be read."""
    from snncc.check import check_model, format_report
    from snncc.compiler import default_calibration_file
    from snncc.errors import OptionError
    from snncc.frontend.cut import parse_outputs
    from snncc.frontend.input_shape import parse_input_shapes
    from snncc.pipeline import registered_codings

    unknown = [c for c in codings if c not in registered_codings()]
    if unknown:
        raise OptionError(f"unknown coding(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(sorted(registered_codings()))}")
    shapes = parse_input_shapes(input_shape)
    sample_shape = None
    calib = calib or (None if shapes else default_calibration_file(model))
    if calib and not shapes:
        from snncc.calibration_file import CalibrationFile

        sample_shape = CalibrationFile(calib).shape[1:]
    report = check_model(model, list(codings) or None, input_shapes=shapes, timesteps=timesteps, profile=profile,
                         sample_shape=sample_shape, outputs=parse_outputs(outputs))
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else format_report(report))
    if not any(v.ok for v in report.verdicts):
        raise SystemExit(EXIT_NONE_WORKS)
