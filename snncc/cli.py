"""The `snncc` command line."""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
import traceback

import click

from snncc.version import VERSION as __version__
from snncc.errors import SnnccError

# commands that never load the compiler (its imports cost `snncc map` about 25 MB of its peak memory)
COMPILER_FREE_COMMANDS = {"map"}

CODING_CHOICES = ["rate", "phase", "amos", "bits", "signed", "ttfs"]


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
    from snncc.pipeline import registered_codings

    if value not in registered_codings():
        raise click.BadParameter(f"unknown coding {value!r}; choose from {', '.join(sorted(registered_codings()))}")
    return value


def _max_memory(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from snncc.errors import OptionError
    from snncc.limits import set_max_bytes

    try:
        set_max_bytes(value)
    except OptionError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _group_examples() -> str:
    from snncc.help_examples import epilog

    return epilog(["snncc compile models/digits_cnn.onnx -o digits.snnir && snncc eval digits.snnir",
                   "snncc passes", "snncc COMMAND --help"])


def _load_plugins(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """--plugin: import the user's modules (and the `snncc.passes` entry points) so their passes register."""
    if value:
        from snncc.plugins import load_plugins

        load_plugins(value)
    return value


PLUGIN_HELP = ("Import this module (a name importable from here, or a .py file) before running, so the passes it "
               "registers can be used (repeatable; entry points of the group snncc.passes are always loaded).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=_group_examples())
@click.version_option(__version__, "-V", "--version", prog_name="snncc", message="%(prog)s %(version)s",
                      help="Print the version and exit.")
@click.option("--debug", is_flag=True, help="Show Python tracebacks on errors.")
@click.option("--plugin", multiple=True, metavar="MODULE|FILE.py", callback=_load_plugins, expose_value=False,
              help=PLUGIN_HELP)
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
@click.option("-T", "--timesteps", type=click.IntRange(min=1, max=1 << 16), default=None,
              help="Time steps the SNN is compiled for [default: 32]; bits: steps (bits) per layer window "
                   "[default: 4]; not used by phase and amos, whose windows are K steps (-K).")
@click.option("--calib", type=click.Path(dir_okay=False), default=None,
              help="Calibration data (.npz with 'x'); defaults to the file recorded next to a bundled model.")
@click.option("--balance", type=click.Choice(["layer", "channel"]), default="channel", show_default=True,
              help="Threshold balancing: one threshold per layer, or per output channel.")
@click.option("--stat", type=click.Choice(["max", "percentile", "max-input-current"]), default="percentile",
              show_default=True, help="Threshold statistic.")
@click.option("--percentile", type=click.FloatRange(0, 100, min_open=True), default=None,
              help="Percentile q of the threshold statistic [default: 99.99 for --stat percentile; "
                   "max-input-current takes the maximum unless q is given].")
@click.option("--v0", type=click.Choice(["half", "zero"]), default="half", show_default=True,
              help="Initial membrane potential of IF neurons, as a fraction of theta.")
@click.option("-K", "--phases", type=int, default=None,
              help="phase/amos/ttfs: phases (sub-neurons, steps) per layer window (phase default 8; amos default "
                   "per gate; ttfs default 16).")
@click.option("--rest", type=int, default=None,
              help="amos: populations for the rest of a HardSwish (hardswish - relu), their levels interleaved; the "
                   "rest's error falls as 1/N at N K more sub-neurons per unit [default: 1].")
@click.option("--base", type=float, default=None, help="phase: fixed base B in (1, 2] (default: searched per layer).")
@click.option("--no-threshold-shift", is_flag=True, help="phase: truncate instead of rounding to the nearest level.")
@click.option("--multi-spike", is_flag=True, help="phase: classic multi-spike phase coding (B = 2, K-bit floor).")
@click.option("--theta-n", type=float, default=None, help="signed: negative threshold (default 0).")
@click.option("--calibrate-snn/--no-calibrate-snn", default=None,
              help="rate/signed: fit each population's v0, threshold scale and bias to the ANN on the calibration "
                   "data (default: on at T <= 8 when calibration data is given).")
@click.option("--target", default=None, help="Also map onto this hardware profile (name or JSON file).")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=DIMS",
              help="Size of a model input with dynamic axes, batch first (x=1x3x224x224; repeat per input). "
                   "Default: the calibration data's per-sample shape.")
@click.option("--outputs", default=None, metavar="NAME[,NAME...]",
              help="Compile the model up to these tensors (they become its outputs), leaving out post-processing "
                   "after them (box decoding, NMS) that no coding computes; `snncc check` suggests the names.")
@click.option("--pipeline", default=None, help="Run this pass pipeline instead of the coding's default.")
@click.option("--plugin", multiple=True, metavar="MODULE|FILE.py", callback=_load_plugins, expose_value=False,
              is_eager=True, help=PLUGIN_HELP)
@click.option("--insert-after", multiple=True, metavar="ANCHOR:PASS{k=v}",
              help="Insert PASS (with options) after pass ANCHOR of the coding's pipeline (repeatable), e.g. "
                   "fold-bn:my-pass{factor=2}.")
@click.option("--insert-before", multiple=True, metavar="ANCHOR:PASS{k=v}",
              help="Insert PASS (with options) before pass ANCHOR of the coding's pipeline (repeatable).")
@click.option("--print-after", default=None, metavar="PASS|all", help="Print the IR after a pass (to stderr).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Output .snnir file.")
@click.option("--emit-text", type=click.Path(dir_okay=False), default=None, help="Also write the text form here.")
@click.option("--emit-program", type=click.Path(file_okay=False), default=None,
              help="Also write a standalone NumPy simulator program into this folder.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Gather the calibration statistics by shards of --calib on this Dask scheduler (its workers read "
                   "the file at the same path); the compiled IR is the same byte for byte.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
def compile_cmd(model, coding, timesteps, calib, balance, stat, percentile, v0, phases, rest, base, no_threshold_shift,
                multi_spike, theta_n, calibrate_snn, target, input_shape, outputs, pipeline, insert_after,
                insert_before, print_after, output, emit_text, emit_program, scheduler, progress):
    """Compile MODEL (.onnx) into a spiking network (.snnir).

    amos: gate circuits fitted on this machine are kept in ~/.cache/snncc/gates ($XDG_CACHE_HOME/snncc/gates), so a
    second compile does not refit them; SNNCC_GATE_CACHE=DIR moves that folder, SNNCC_GATE_CACHE=off turns it off.
    """
    import snncc
    from snncc.data import load_npz
    from snncc.frontend.input_shape import parse_input_shapes
    from snncc.ir import to_chunks, to_text
    from snncc.outputs import Outputs

    calib_path = calib or snncc.default_calibration_file(model)
    check_compile_paths(model, calib_path, target, output, emit_text, emit_program)
    out = Outputs()   # all-or-nothing: every output is staged and renamed into place at the end
    out.check(output)
    out.check(emit_text)
    out.check(emit_program, folder=True)
    if target:
        from snncc.commands.target import map_output_path

        out.check(map_output_path(output))
    if progress is None:
        progress = sys.stderr.isatty()
    if scheduler and not calib_path:
        from snncc.errors import OptionError

        raise OptionError("--scheduler gathers calibration statistics on a Dask cluster: pass --calib FILE.npz")
    from snncc.frontend.cut import parse_outputs

    outputs = parse_outputs(outputs)
    if scheduler and outputs:
        from snncc.errors import OptionError

        raise OptionError("--outputs with --scheduler: the cluster gathers statistics of the uncut model; compile "
                          "without --scheduler")
    if scheduler:   # rows read when a pass needs them; the statistics come from the cluster
        from snncc.calibration_file import CalibrationFile

        calibration = CalibrationFile(calib_path)
    else:
        # loaded after the pre-flight check (or first, when a dynamic input axis takes its size), once
        calibration = functools.cache(lambda: load_npz(calib_path).x) if calib_path else None
    options = {"balance": balance, "stat": stat, "percentile": percentile, "v0": v0, "phases": phases, "base": base,
               "threshold_shift": not no_threshold_shift, "multi_spike": multi_spike, "theta_n": theta_n,
               "calibrate_snn": calibrate_snn}
    if percentile is None:   # each coding's own default (max-input-current: the maximum, not a percentile)
        del options["percentile"]
    if rest is not None:
        if coding != "amos":
            from snncc.errors import OptionError

            raise OptionError(f"--rest sets the HardSwish rest populations of --coding amos, not of {coding}")
        options["rest"] = rest
    from snncc.coding_steps import default_timesteps, steps_summary, timesteps_note

    note = timesteps_note(coding, timesteps)
    if note:
        click.echo(note, err=True)
    timesteps = default_timesteps(coding) if timesteps is None else timesteps
    from snncc.plugins import load_entry_points

    load_entry_points()
    if insert_after or insert_before:
        from snncc.pipeline import pipeline_for
        from snncc.pipeline_edit import insert_passes

        base = pipeline or pipeline_for(coding, timesteps=timesteps, **options)
        pipeline = insert_passes(base, insert_after, insert_before)
    stats = None
    if scheduler:
        from snncc.pipeline import pipeline_for
        from snncc.sweep.calibration import stats_on_cluster

        text = pipeline or pipeline_for(coding, timesteps=timesteps, has_calibration=True, **options)
        stats = stats_on_cluster(str(model), str(calib_path), text, scheduler, parse_input_shapes(input_shape))
    graph = snncc.compile(model, coding, timesteps=timesteps, calibration=calibration, pipeline=pipeline,
                          progress=progress, print_after=print_after, input_shapes=parse_input_shapes(input_shape),
                          profile=target, calibration_stats=stats, outputs=outputs, **options)
    if graph.meta.get("dropped_tail"):
        click.echo(f"note: dropped the output tail after the last linear layer: {graph.meta['dropped_tail']} "
                   "(argmax unchanged" + ("; the outputs' Sigmoid is applied again at readout"
                                         if graph.meta.get("sigmoid_outputs") else "") + ")", err=True)
    if target:   # all work before staging: a model that does not fit (or a kill while mapping) leaves no output
        from snncc.backends.coremap import map_graph
        from snncc.backends.coremap.mapfile import dump_chunks
        from snncc.commands.target import map_output_path

        mapping = map_graph(graph, target, calibration() if calibration else None, progress=progress).document
    with out:
        out.file(output, to_chunks(graph))
        if emit_text:
            out.file(emit_text, to_text(graph))
        if emit_program:
            from snncc.backends.simulator import emit_program as emit

            out.folder(emit_program, lambda folder: emit(graph, folder))
        if target:
            out.file(map_output_path(output), dump_chunks(mapping))
        out.commit()
    if target:
        from snncc.commands.map import format_summary

        click.echo(format_summary(mapping), err=True)
        click.echo(f"wrote {map_output_path(output)}", err=True)
    click.echo(f"wrote {output} ({len(graph.nodes)} nodes, coding {coding}, {steps_summary(graph)})", err=True)
    from snncc.non_spiking import products_note

    products = products_note(graph)
    if products:
        click.echo(f"note: {products}", err=True)


def check_compile_paths(model, calib, target, output, emit_text, emit_program) -> None:
    """OutputError when two of compile's outputs, or an output and an input, are the same file."""
    from snncc.commands.target import map_output_path
    from snncc.outputs import check_distinct

    profile = target if target and os.path.isfile(target) else None
    check_distinct({"the model": model, "--calib": calib, "--target": profile},
                   {"-o": output, "--emit-text": emit_text, "--emit-program": emit_program,
                    "the --target mapping file": map_output_path(output) if target else None})


@cli.command("eval")
@click.argument("snnir", type=click.Path(dir_okay=False))
@click.option("--data", "data_path", type=click.Path(dir_okay=False), default=None,
              help=".npz with 'x' and optional 'y' labels [default: the test split recorded next to a bundled source "
                   "model].")
@click.option("--timesteps", default=None, help="Comma-separated T values (default: the compiled T).")
@click.option("--input-coding", type=click.Choice(["analog", "poisson"]), default="analog", show_default=True,
              help="How the input enters the SNN: as a constant current, or as Poisson spike trains.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Samples simulated together (lower it to save memory).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N samples.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed of the Poisson input coding.")
@click.option("--mask", default=None, help="Name of a boolean array in the data file selecting the labels to score.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@click.option("--profile", default=None,
              help="Also report the accuracy after quantizing the weights to this hardware profile's precision.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, metavar="OUT.png",
              help="Also draw accuracy vs time step and spikes per layer into this PNG (needs matplotlib: "
                   "pip install 'snncc[plot]').")
@click.option("--engine", type=click.Choice(["auto", "numpy", "ort"]), default="auto", show_default=True,
              help="auto: ort when onnxruntime is installed (the faster at the default batch size, see README), "
                   "else numpy; numpy: the reference kernels (event-driven paths, one thread); ort: each time step "
                   "as an ONNX model on onnxruntime, one intra-op thread per idle core (same predictions; a spike "
                   "count may move where a sum rounds differently). The report names the engine used.")
def eval_cmd(snnir, data_path, timesteps, input_coding, batch_size, limit, seed, mask, as_json, progress, profile,
             plot_path, engine):
    """Simulate a compiled SNN on DATA and compare it with the source ANN."""
    from snncc.compiled_input import default_test_data
    from snncc.data import Dataset, load_npz
    from snncc.evaluate import evaluate, format_report
    from snncc.commands.diff import read_graph
    from snncc.ir.serialize import header_timesteps

    if plot_path:   # before the simulation: a missing matplotlib or an unwritable path fails now
        from snncc.eval_plot import pyplot
        from snncc.outputs import check_target

        check_target(plot_path)
        pyplot()
    graph = read_graph(snnir, "eval", weights=True)   # a .snnir file or its full text form
    inputs = graph.inputs
    data_note = None
    if data_path is None:
        data_path = default_test_data(graph)
        data_note = f"data: {data_path}, the test split recorded next to {graph.meta['source']} (no --data given)"
    data = load_npz(data_path, inputs[0].type.shape if len(inputs) == 1 else None, mask_key=mask)
    if limit:
        data = Dataset(data.x[:limit], None if data.y is None else data.y[:limit], data.mask)
    steps = _timesteps_list(timesteps) if timesteps else [header_timesteps(graph)]
    if plot_path:
        from snncc.eval_plot import plot_checkpoints

        run_steps = plot_checkpoints(steps) if graph.meta.get("schedule") != "windowed" else steps
    progress = sys.stderr.isatty() if progress is None else progress
    report = evaluate(graph, data, run_steps if plot_path else steps, input_coding=input_coding, seed=seed,
                      batch_size=batch_size, progress=progress, engine=engine)
    if plot_path:
        from pathlib import Path

        from snncc.eval_plot import only, write_eval_plot

        write_eval_plot(report, plot_path, f"{Path(snnir).name} ({graph.meta.get('coding', '?')} coding)")
        report = only(report, steps)
        click.echo(f"wrote {plot_path}", err=True)
    if data_note:
        report.notes.insert(0, data_note)
    if timesteps and graph.meta.get("schedule") == "windowed":
        from snncc.coding_steps import eval_timesteps_note

        report.notes.append(eval_timesteps_note(graph))
    hardware = None
    if profile:  # coremap: accuracy after quantizing the weights to the profile's precision
        from snncc.commands.map import format_profile_accuracy, profile_accuracy

        hardware = profile_accuracy(graph, data, steps, profile, batch_size=batch_size, progress=progress)
    if as_json:
        click.echo(json.dumps(dict(report.to_json(), **({"profile": hardware} if hardware else {})), sort_keys=True))
    else:
        click.echo(format_report(report) + (("\n" + format_profile_accuracy(hardware)) if hardware else ""))


@cli.command("inspect")
@click.argument("snnir", type=click.Path(dir_okay=False))
def inspect_cmd(snnir):
    """Print the deterministic text form of a .snnir file."""
    from snncc.commands.diff import read_graph
    from snncc.ir import to_text

    click.echo(to_text(read_graph(snnir, "inspect")), nl=False)


@cli.command("passes")
def passes_cmd():
    """List the registered passes and codings."""
    import shutil
    import textwrap

    from snncc.passes import PASS_REGISTRY
    from snncc.pipeline import registered_codings
    from snncc.plugins import load_entry_points

    load_entry_points()

    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
    for name in sorted(PASS_REGISTRY):   # the docstring's whole first sentence, wrapped under its column
        click.echo(textwrap.fill(PASS_REGISTRY[name].doc, width, initial_indent=f"{name:24} ",
                                 subsequent_indent=" " * 25, break_on_hyphens=False))
    click.echo("\ncodings: " + ", ".join(sorted(registered_codings())))


def _library_user_errors() -> tuple[type[BaseException], ...]:
    """Error types of modules that cannot import snncc.errors (the IR checker, the simulator kernels, which emitted
    programs carry verbatim) but that report user-caused problems: they get the same treatment as SnnccError."""
    from snncc.backends.simulator.kernels import ProgramError
    from snncc.ir import VerifyError

    return (ProgramError, VerifyError)


class _Terminated(BaseException):
    """SIGTERM (a CI timeout, `kill`): unwinds like Ctrl-C, so staged outputs are removed; exit 143."""


def _record_interrupt(signum, frame):
    SIGNALS_SEEN.append(signum)
    raise KeyboardInterrupt


def _terminate_like_interrupt():
    """Route SIGTERM through the same clean-up as Ctrl-C and record both signals (`SIGNALS_SEEN`); returns the
    previous SIGTERM handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        SIGNALS_SEEN.append(signum)
        raise _Terminated

    SIGNALS_SEEN.clear()
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _record_interrupt)
    return signal.signal(signal.SIGTERM, handler)


# signals received during this command: one raised inside a C extension's import (onnxruntime, loaded lazily by
# calibration's cross-check) surfaces as "ImportError: initialization failed", not as the signal
SIGNALS_SEEN: list[int] = []


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

    from snncc.early_signals import uninstall

    command = next((a for a in args if not a.startswith("-")), None)
    if command not in COMPILER_FREE_COMMANDS:
        # under the early handlers, like the imports before main(): a signal inside a library's import could
        # otherwise be swallowed by its own bare `except:`
        import snncc.compiler  # noqa: F401
    uninstall()   # from here on Ctrl-C is a KeyboardInterrupt that unwinds through the clean-up below
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
            if signal.getsignal(signal.SIGINT) is _record_interrupt:
                signal.signal(signal.SIGINT, signal.default_int_handler)
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
        if isinstance(sys.stdout, click.utils.PacifyFlushWrapper):   # click's exit(1) after a closed pipe
            return 141
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
        report("error: out of memory; use a smaller model or data set (eval, sweep: or a smaller --batch-size; "
               "the memory cap SNNCC_MAX_BYTES / --max-memory refuses oversized inputs before they are read)")
        return EXIT_USER_ERROR
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        report(f"error: {where}{exc.strerror or exc}")
        return EXIT_USER_ERROR
    except Exception as exc:  # noqa: BLE001 - last resort: never a bare traceback
        if SIGNALS_SEEN:
            if debug:
                traceback.print_exc()
            term = SIGNALS_SEEN[-1] == signal.SIGTERM
            click.echo("terminated" if term else "interrupted", err=True)
            return 128 + signal.SIGTERM if term else EXIT_INTERRUPTED
        if isinstance(exc, _library_user_errors()):
            report(f"error: {exc}")
            return EXIT_USER_ERROR
        report(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback and please "
               "report it)")
        return EXIT_INTERNAL_ERROR


from snncc.commands.check import check_cmd  # noqa: E402
cli.add_command(check_cmd)
from snncc.commands.diff import diff_cmd  # noqa: E402
cli.add_command(diff_cmd)
from snncc.commands.export import export_cmd  # noqa: E402
cli.add_command(export_cmd)
from snncc.commands.map import map_cmd  # noqa: E402
cli.add_command(map_cmd)
from snncc.commands.sweep import sweep_cmd  # noqa: E402
cli.add_command(sweep_cmd)
from snncc.help_examples import attach_examples  # noqa: E402
attach_examples(cli)   # after every add_command: each command's --help ends with its examples

if __name__ == "__main__":
    sys.exit(main())


