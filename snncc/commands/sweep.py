"""`snncc sweep MODEL.onnx -o DIR`: every feasible (coding, option) point compiled and evaluated, on Dask."""

from __future__ import annotations

import sys
import time

import click

from snncc.errors import DataError, OptionError

DEFAULT_CODINGS = "rate,phase,amos,bits,signed,ttfs"
DEFAULT_TIMESTEPS = "1,2,4,8,16,32"

EXAMPLES = """Examples:

\b
  snncc sweep models/digits_cnn.onnx -o sweep/            # bundled model: its calibration and test splits
  snncc sweep m.onnx --calib c.npz --data test.npz --codings rate,bits --timesteps 4,8 -o sweep/
  snncc sweep m.onnx --data test.npz --scheduler tcp://10.0.0.5:8786 --resume -o sweep/
"""


def _int_list(text: str | None, what: str) -> list[int]:
    try:
        values = [int(v) for v in (text or "").split(",") if v.strip()]
    except ValueError:
        raise OptionError(f"{what} {text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise OptionError(f"{what} must be positive integers, got {text!r}")
    return values


@click.command("sweep", epilog=EXAMPLES)
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--calib", type=click.Path(dir_okay=False), default=None,
              help="Calibration data (.npz with 'x'); defaults to the file recorded next to a bundled model.")
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="Test set (.npz with 'x' and optional 'y'), read by shards; defaults to a bundled model's test "
                   "split.")
@click.option("--codings", default=DEFAULT_CODINGS, show_default=True,
              help="Comma-separated codings to try; `snncc check` rules out the ones the model cannot take.")
@click.option("--timesteps", default=DEFAULT_TIMESTEPS, show_default=True,
              help="T values for the codings that take T (rate, signed: run length; bits: bits per window).")
@click.option("-K", "--phases", default=None,
              help="Phases K per window for phase, amos and ttfs (comma-separated; default: each coding's own).")
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True,
              help="Output folder: results.json, report.html, plots/, points/ (one result file per point).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run on this Dask scheduler (default $DASK_SCHEDULER_ADDRESS, else a LocalCluster).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="LocalCluster worker processes (default: one per CPU core).")
@click.option("--serial", is_flag=True, help="Run every task in this process, without Dask.")
@click.option("--shard-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Test samples per evaluation task.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N test samples.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Samples simulated together inside a task.")
@click.option("--resume", is_flag=True, help="Keep the points already in OUTPUT/points/ (same model, data, options).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
def sweep_cmd(model, calib, data, codings, timesteps, phases, output, scheduler, workers, serial, shard_size, limit,
              batch_size, resume, progress):
    """Compile MODEL (.onnx) at every feasible coding and option, evaluate each point, and write a table
    (results.json) and a report with plots (report.html)."""
    import snncc
    from snncc.outputs import check_target
    from snncc.pipeline import CODINGS
    from snncc.sweep import SerialClient, dask_client, run_sweep, scheduler_address

    check_target(output, folder=True)
    names = [c.strip() for c in codings.split(",") if c.strip()]
    unknown = [c for c in names if c not in CODINGS]
    if not names or unknown:
        raise OptionError(f"unknown coding(s) {', '.join(unknown) or '(none given)'}; choose from "
                          f"{', '.join(sorted(CODINGS))}")
    steps = _int_list(timesteps, "--timesteps")
    ks = _int_list(phases, "--phases") if phases else [None]
    calib = calib or snncc.default_calibration_file(model)
    data = data or snncc.compiler.default_test_file(model)
    if data is None:
        raise DataError(f"{model}: no test set given and none recorded next to the model; pass --data TEST.npz")
    address = scheduler_address(scheduler)
    if serial and (address or workers):
        raise OptionError("--serial runs in this process: drop --scheduler/--workers (or $DASK_SCHEDULER_ADDRESS)")
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc="sweep points", unit="point", file=sys.stderr)
    started = time.perf_counter()
    kwargs = dict(calib=str(calib) if calib else None, codings=names, timesteps=steps, phases=ks,
                  shard_size=shard_size, limit=limit, resume=resume, batch_size=batch_size,
                  on_point=(lambda record: bar.update()) if bar else None)
    try:
        if serial:
            records = run_sweep(str(model), str(data), output, SerialClient(), **kwargs)
        else:
            with dask_client(address, workers) as executor:
                records = run_sweep(str(model), str(data), output, executor, **kwargs)
    finally:
        if bar:
            bar.close()
    from snncc.sweep.report import results_table, write_report

    click.echo(results_table(records))
    try:
        report = write_report(records, output, str(model))
        click.echo(f"wrote {report}", err=True)
    except OptionError as exc:   # matplotlib is an optional extra: the table and results.json are still there
        click.echo(f"note: no report.html: {exc}", err=True)
    click.echo(f"wrote {output}/results.json ({len(records)} points in {time.perf_counter() - started:.1f} s)",
               err=True)
