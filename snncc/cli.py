"""The `snncc` command line."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback

import click

from snncc.errors import SnnccError

CODING_CHOICES = ["rate", "phase", "amos", "bits", "signed"]


def _timesteps_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers") from None
    if not values or any(v < 1 or v > 1 << 16 for v in values):
        raise click.BadParameter("time steps must be integers in [1, 65536]")
    return values


def _known_coding(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--coding must name a registered coding: a usage error (exit 2) otherwise."""
    from snncc.pipeline import CODINGS

    if value not in CODINGS:
        raise click.BadParameter(f"unknown coding {value!r}; choose from {', '.join(sorted(CODINGS))}")
    return value


def _max_memory(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from snncc.errors import OptionError
    from snncc.limits import set_max_bytes

    try:
        set_max_bytes(value)
    except OptionError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
@click.option("--max-memory", metavar="SIZE", default=None, callback=_max_memory, expose_value=False,
              help="Refuse inputs whose declared sizes need more memory than SIZE (e.g. 512M, 8G; default "
                   "$SNNCC_MAX_BYTES or 4G).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """snncc: compile ONNX ANNs into spiking neural networks, simulate, inspect and map them.

    Exit codes: 0 success, 1 the result differs (diff --exit-code), 2 user error, 3 internal error, 130 interrupted.
    """
    ctx.obj = {"debug": debug}


@cli.command("compile")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--coding", default="rate", show_default=True, callback=_known_coding,
              help="Spike coding: " + ", ".join(CODING_CHOICES) + ".")
@click.option("-T", "--timesteps", type=click.IntRange(min=1, max=1 << 16), default=32, show_default=True,
              help="Time steps the SNN is compiled for.")
@click.option("--calib", type=click.Path(dir_okay=False), default=None,
              help="Calibration data (.npz with 'x'); defaults to the file recorded next to a bundled model.")
@click.option("--balance", type=click.Choice(["layer", "channel"]), default="channel", show_default=True)
@click.option("--stat", type=click.Choice(["max", "percentile", "max-input-current"]), default="percentile",
              show_default=True, help="Threshold statistic.")
@click.option("--percentile", type=click.FloatRange(0, 100, min_open=True), default=None,
              help="Percentile q of the threshold statistic [default: 99.99 for --stat percentile; "
                   "max-input-current takes the maximum unless q is given].")
@click.option("--v0", type=click.Choice(["half", "zero"]), default="half", show_default=True,
              help="Initial membrane potential of IF neurons, as a fraction of theta.")
@click.option("-K", "--phases", type=int, default=None,
              help="phase/amos: phases (sub-neurons) per layer window (phase default 8; amos default per gate).")
@click.option("--base", type=float, default=None, help="phase: fixed base B in (1, 2] (default: searched per layer).")
@click.option("--no-threshold-shift", is_flag=True, help="phase: truncate instead of rounding to the nearest level.")
@click.option("--multi-spike", is_flag=True, help="phase: classic multi-spike phase coding (B = 2, K-bit floor).")
@click.option("--theta-n", type=float, default=None, help="signed: negative threshold (default 0).")
@click.option("--calibrate-snn/--no-calibrate-snn", default=None,
              help="rate/signed: fit each population's v0, threshold scale and bias to the ANN on the calibration "
                   "data (default: on at T <= 8 when calibration data is given).")
@click.option("--target", default=None, help="Also map onto this hardware profile (name or JSON file).")
@click.option("--pipeline", default=None, help="Run this pass pipeline instead of the coding's default.")
@click.option("--print-after", default=None, metavar="PASS|all", help="Print the IR after a pass (to stderr).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Output .snnir file.")
@click.option("--emit-text", type=click.Path(dir_okay=False), default=None, help="Also write the text form here.")
@click.option("--emit-program", type=click.Path(file_okay=False), default=None,
              help="Also write a standalone NumPy simulator program into this folder.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
def compile_cmd(model, coding, timesteps, calib, balance, stat, percentile, v0, phases, base, no_threshold_shift,
                multi_spike, theta_n, calibrate_snn, target, pipeline, print_after, output, emit_text, emit_program,
                progress):
    """Compile MODEL (.onnx) into a spiking network (.snnir)."""
    import snncc
    from snncc.data import load_npz
    from snncc.ir import to_bytes, to_text
    from snncc.outputs import Outputs

    out = Outputs()   # all-or-nothing: every output is staged and renamed into place at the end
    out.check(output)
    out.check(emit_text)
    out.check(emit_program, folder=True)
    if target:
        from snncc.commands.target import map_output_path

        out.check(map_output_path(output))
    if progress is None:
        progress = sys.stderr.isatty()
    calib_path = calib or snncc.default_calibration_file(model)
    calibration = load_npz(calib_path).x if calib_path else None
    options = {"balance": balance, "stat": stat, "percentile": percentile, "v0": v0, "phases": phases, "base": base,
               "threshold_shift": not no_threshold_shift, "multi_spike": multi_spike, "theta_n": theta_n,
               "calibrate_snn": calibrate_snn}
    if percentile is None:   # each coding's own default (max-input-current: the maximum, not a percentile)
        del options["percentile"]
    graph = snncc.compile(model, coding, timesteps=timesteps, calibration=calibration, pipeline=pipeline,
                          progress=progress, print_after=print_after, **options)
    with out:
        out.file(output, to_bytes(graph))
        if emit_text:
            out.file(emit_text, to_text(graph))
        if emit_program:
            from snncc.backends.simulator import emit_program as emit

            out.folder(emit_program, lambda folder: emit(graph, folder))
        if target:   # the mapping file is staged with the rest: a model that does not fit leaves no output
            from snncc.backends.coremap import dumps, map_graph
            from snncc.commands.target import map_output_path

            mapping = map_graph(graph, target, calibration).document
            out.file(map_output_path(output), dumps(mapping))
        out.commit()
    if target:
        from snncc.commands.map import format_summary

        click.echo(format_summary(mapping), err=True)
        click.echo(f"wrote {map_output_path(output)}", err=True)
    click.echo(f"wrote {output} ({len(graph.nodes)} nodes, coding {coding}, T={timesteps})", err=True)


@cli.command("eval")
@click.argument("snnir", type=click.Path(dir_okay=False))
@click.option("--data", "data_path", type=click.Path(dir_okay=False), required=True,
              help=".npz with 'x' and optional 'y' labels.")
@click.option("--timesteps", default=None, help="Comma-separated T values (default: the compiled T).")
@click.option("--input-coding", type=click.Choice(["analog", "poisson"]), default="analog", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N samples.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--mask", default=None, help="Name of a boolean array in the data file selecting the labels to score.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--progress/--no-progress", default=None)
@click.option("--profile", default=None,
              help="Also report the accuracy after quantizing the weights to this hardware profile's precision.")
def eval_cmd(snnir, data_path, timesteps, input_coding, batch_size, limit, seed, mask, as_json, progress, profile):
    """Simulate a compiled SNN on DATA and compare it with the source ANN."""
    from snncc.data import Dataset, load_npz
    from snncc.evaluate import evaluate, format_report
    from snncc.ir import load
    from snncc.ir.serialize import header_timesteps

    graph = load(snnir)
    inputs = graph.inputs
    data = load_npz(data_path, inputs[0].type.shape if len(inputs) == 1 else None, mask_key=mask)
    if limit:
        data = Dataset(data.x[:limit], None if data.y is None else data.y[:limit], data.mask)
    steps = _timesteps_list(timesteps) if timesteps else [header_timesteps(graph)]
    report = evaluate(graph, data, steps, input_coding=input_coding, seed=seed, batch_size=batch_size,
                      progress=sys.stderr.isatty() if progress is None else progress)
    hardware = None
    if profile:  # coremap: accuracy after quantizing the weights to the profile's precision
        from snncc.commands.map import format_profile_accuracy, profile_accuracy

        hardware = profile_accuracy(graph, data, steps, profile, batch_size=batch_size)
    if as_json:
        click.echo(json.dumps(dict(report.to_json(), **({"profile": hardware} if hardware else {})), sort_keys=True))
    else:
        click.echo(format_report(report) + (("\n" + format_profile_accuracy(hardware)) if hardware else ""))


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


def _library_user_errors() -> tuple[type[BaseException], ...]:
    """Error types of modules that cannot import snncc.errors (the IR checker, the simulator kernels, which emitted
    programs carry verbatim) but that report user-caused problems: they get the same treatment as SnnccError."""
    from snncc.backends.simulator.kernels import ProgramError
    from snncc.ir import VerifyError

    return (ProgramError, VerifyError)


class _Terminated(BaseException):
    """SIGTERM (a CI timeout, `kill`): unwinds like Ctrl-C, so staged outputs are removed; exit 143."""


def _terminate_like_interrupt():
    """Route SIGTERM through the same clean-up as Ctrl-C; returns the previous handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise _Terminated

    return signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point. Exit codes: 0 success; 1 "ran fine, the result says different" (diff --exit-code); 2 a user
    error (one `error: ...` line; `--debug` adds the traceback) or a usage error (click's message); 3 an internal
    error (a bug); 130 interrupted (Ctrl-C / SIGINT; outputs are all-or-nothing, so nothing partial is left); 143
    terminated (SIGTERM, cleaned up the same way)."""
    from snncc.errors import EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED, EXIT_USER_ERROR

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args

    def report(message: str) -> None:
        if debug:
            traceback.print_exc()
        click.echo(message, err=True)

    try:
        previous_term = _terminate_like_interrupt()
        try:
            code = cli.main(args=args, prog_name="snncc", standalone_mode=False)
            return int(code or 0)
        finally:
            from snncc.limits import set_max_bytes

            set_max_bytes(None)   # --max-memory is per invocation (main() is also called in-process by tests)
            if previous_term is not None:
                signal.signal(signal.SIGTERM, previous_term)
    except _Terminated:
        click.echo("terminated", err=True)
        return 128 + signal.SIGTERM
    except (click.exceptions.Abort, KeyboardInterrupt):
        if debug:
            traceback.print_exc()
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:   # a command's `raise SystemExit(1)` ("ran fine, the result says different")
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USER_ERROR)
    except SnnccError as exc:
        report(f"error: {exc}")
        return exc.exit_code
    except BrokenPipeError:
        # `snncc inspect m.snnir | head`: the reader went away; stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 141
    except MemoryError:
        report("error: out of memory; lower --batch-size, or use a smaller model or data set (the memory cap "
               "SNNCC_MAX_BYTES / --max-memory refuses oversized inputs before they are read)")
        return EXIT_USER_ERROR
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        report(f"error: {where}{exc.strerror or exc}")
        return EXIT_USER_ERROR
    except Exception as exc:  # noqa: BLE001 - last resort: never a bare traceback
        if isinstance(exc, _library_user_errors()):
            report(f"error: {exc}")
            return EXIT_USER_ERROR
        report(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback and please "
               "report it)")
        return EXIT_INTERNAL_ERROR


from snncc.commands.diff import diff_cmd  # noqa: E402
cli.add_command(diff_cmd)
from snncc.commands.export import export_cmd  # noqa: E402
cli.add_command(export_cmd)
from snncc.commands.map import map_cmd  # noqa: E402
cli.add_command(map_cmd)
from snncc.commands.sweep import sweep_cmd  # noqa: E402
cli.add_command(sweep_cmd)

if __name__ == "__main__":
    sys.exit(main())


