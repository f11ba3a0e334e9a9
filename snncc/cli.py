"""The `snncc` command line."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click

from snncc.errors import SnnccError

CODING_CHOICES = ["rate", "phase", "amos", "bits", "signed"]


def _timesteps_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers") from None
    if not values or any(v < 1 for v in values):
        raise click.BadParameter("time steps must be integers >= 1")
    return values


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """snncc: compile ONNX ANNs into spiking neural networks, simulate, inspect and map them."""
    ctx.obj = {"debug": debug}


@cli.command("compile")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--coding", default="rate", show_default=True, help="Spike coding: " + ", ".join(CODING_CHOICES) + ".")
@click.option("-T", "--timesteps", type=click.IntRange(min=1), default=32, show_default=True,
              help="Time steps the SNN is compiled for.")
@click.option("--calib", type=click.Path(dir_okay=False), default=None,
              help="Calibration data (.npz with 'x'); defaults to the file recorded next to a bundled model.")
@click.option("--balance", type=click.Choice(["layer", "channel"]), default="channel", show_default=True)
@click.option("--stat", type=click.Choice(["max", "percentile", "max-input-current"]), default="percentile",
              show_default=True, help="Threshold statistic.")
@click.option("--percentile", type=click.FloatRange(0, 100, min_open=True), default=99.99, show_default=True)
@click.option("--v0", type=click.Choice(["half", "zero"]), default="half", show_default=True,
              help="Initial membrane potential of IF neurons, as a fraction of theta.")
@click.option("-K", "--phases", type=int, default=None,
              help="phase/amos: phases (sub-neurons) per layer window (phase default 8; amos default per gate).")
@click.option("--base", type=float, default=None, help="phase: fixed base B in (1, 2] (default: searched per layer).")
@click.option("--no-threshold-shift", is_flag=True, help="phase: truncate instead of rounding to the nearest level.")
@click.option("--multi-spike", is_flag=True, help="phase: classic multi-spike phase coding (B = 2, K-bit floor).")
@click.option("--theta-n", type=float, default=None, help="signed: negative threshold (default 0).")
@click.option("--target", default=None, help="Also map onto this hardware profile (name or JSON file).")
@click.option("--pipeline", default=None, help="Run this pass pipeline instead of the coding's default.")
@click.option("--print-after", default=None, metavar="PASS|all", help="Print the IR after a pass (to stderr).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Output .snnir file.")
@click.option("--emit-text", type=click.Path(dir_okay=False), default=None, help="Also write the text form here.")
@click.option("--emit-program", type=click.Path(file_okay=False), default=None,
              help="Also write a standalone NumPy simulator program into this folder.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
def compile_cmd(model, coding, timesteps, calib, balance, stat, percentile, v0, phases, base, no_threshold_shift,
                multi_spike, theta_n, target, pipeline, print_after, output, emit_text, emit_program, progress):
    """Compile MODEL (.onnx) into a spiking network (.snnir)."""
    import snncc
    from snncc.data import load_npz
    from snncc.ir import save, to_text
    from snncc.ir.atomic_write import atomic_write

    if progress is None:
        progress = sys.stderr.isatty()
    calib_path = calib or snncc.default_calibration_file(model)
    calibration = load_npz(calib_path).x if calib_path else None
    options = {"balance": balance, "stat": stat, "percentile": percentile, "v0": v0, "phases": phases, "base": base,
               "threshold_shift": not no_threshold_shift, "multi_spike": multi_spike, "theta_n": theta_n}
    graph = snncc.compile(model, coding, timesteps=timesteps, calibration=calibration, pipeline=pipeline,
                          progress=progress, print_after=print_after, **options)
    save(graph, output)
    if emit_text:
        atomic_write(emit_text, to_text(graph))
    if emit_program:
        from snncc.backends.simulator import emit_program as emit

        emit(graph, emit_program)
    if target:
        from snncc.commands.target import map_after_compile

        map_after_compile(graph, target, output, calibration)
    click.echo(f"wrote {output} ({len(graph.nodes)} nodes, coding {coding}, T={timesteps})", err=True)


@cli.command("eval")
@click.argument("snnir", type=click.Path(dir_okay=False))
@click.option("--data", "data_path", type=click.Path(dir_okay=False), required=True,
              help=".npz with 'x' and optional 'y' labels.")
@click.option("--timesteps", default=None, help="Comma-separated T values (default: the compiled T).")
@click.option("--input-coding", type=click.Choice(["analog", "poisson"]), default="analog", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N samples.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--mask", default=None, help="Name of a boolean array in the data file selecting the labels to score.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--progress/--no-progress", default=None)
def eval_cmd(snnir, data_path, timesteps, input_coding, batch_size, limit, seed, mask, as_json, progress):
    """Simulate a compiled SNN on DATA and compare it with the source ANN."""
    from snncc.data import Dataset, load_npz
    from snncc.evaluate import evaluate, format_report
    from snncc.ir import load

    graph = load(snnir)
    inputs = graph.inputs
    data = load_npz(data_path, inputs[0].type.shape if len(inputs) == 1 else None, mask_key=mask)
    if limit:
        data = Dataset(data.x[:limit], None if data.y is None else data.y[:limit], data.mask)
    steps = _timesteps_list(timesteps) if timesteps else [int(graph.meta.get("timesteps", 32))]
    report = evaluate(graph, data, steps, input_coding=input_coding, seed=seed, batch_size=batch_size,
                      progress=sys.stderr.isatty() if progress is None else progress)
    click.echo(json.dumps(report.to_json(), sort_keys=True) if as_json else format_report(report))


@cli.command("inspect")
@click.argument("snnir", type=click.Path(dir_okay=False))
def inspect_cmd(snnir):
    """Print the deterministic text form of a .snnir file."""
    from snncc.ir import load, to_text

    click.echo(to_text(load(snnir)), nl=False)


@cli.command("passes")
def passes_cmd():
    """List the registered passes and codings."""
    from snncc.passes import PASS_REGISTRY
    from snncc.pipeline import CODINGS

    for name in sorted(PASS_REGISTRY):
        click.echo(f"{name:24} {PASS_REGISTRY[name].doc}")
    click.echo("\ncodings: " + ", ".join(sorted(CODINGS)))


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one message and exit 2; Ctrl-C exits 130; tracebacks only with --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="snncc", standalone_mode=False)
        return int(code or 0)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SnnccError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except (OSError, MemoryError) as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return 2
    except Exception as exc:  # noqa: BLE001 - last resort: never a bare traceback
        if debug:
            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback and please "
                   "report it)", err=True)
        return 3


from snncc.commands.diff import diff_cmd  # noqa: E402
cli.add_command(diff_cmd)
from snncc.commands.export import export_cmd  # noqa: E402
cli.add_command(export_cmd)

if __name__ == "__main__":
    sys.exit(main())


