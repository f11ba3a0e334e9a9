"""Calibration statistics of a sweep: gathered once per model (per distinct graph the points calibrate on) by shards
of the calibration set on the executor, merged in row order, and handed to every compile point, so that no compile
task passes over the whole calibration set again."""

from __future__ import annotations

from typing import Sequence

from snncc.calibration_file import CalibrationFile
from snncc.errors import SnnccError
from snncc.npz_shards import shard_bounds
from snncc.passes.calibration_stats import CalibrationStats, graph_digest, merge_all, stats_for_rows
from snncc.sweep.tasks import Point

DEFAULT_BATCH = 256   # the batch size of `calibrate` and of balance-thresholds' own pass


def stats_prefix(point: Point, options: dict) -> tuple[str, int] | None:
    """`pipeline_stats_prefix` of the point's pipeline; None also when the point has no pipeline (bad option)."""
    from snncc.pipeline import pipeline_for

    opts = dict(options, phases=point.phases if point.phases else options.get("phases"))
    try:
        return pipeline_stats_prefix(pipeline_for(point.coding, timesteps=point.timesteps or 32,
                                                  has_calibration=True, **opts))
    except SnnccError:
        return None   # the compile task meets the same error and records the point as infeasible


def pipeline_stats_prefix(pipeline: str) -> tuple[str, int] | None:
    """(the passes before the pipeline's first statistics-gathering pass, as a pipeline string; its batch size), or
    None when it gathers none (calibrate, or balance-thresholds on its own, gather them)."""
    from snncc.passes.registry import format_pipeline, parse_pipeline

    items = parse_pipeline(pipeline)
    for i, (name, pass_options) in enumerate(items):
        if name == "calibrate":
            return format_pipeline(items[:i]), pass_options.get("batch_size", DEFAULT_BATCH)
        if name == "balance-thresholds" and pass_options.get("stat") != "max-input-current":
            return format_pipeline(items[:i]), DEFAULT_BATCH
    return None


def calibration_graph(model: str, prefix: str, calib: str | None = None, input_shapes: dict | None = None):
    """The model's graph after the passes of `prefix`, as the compile has it when it gathers statistics (dynamic
    input axes sized as the compile sizes them); None when a pass fails (the compile task then records the error)."""
    from snncc.compiler import load_model
    from snncc.frontend import onnx_to_ir
    from snncc.passes import PassContext, PassManager

    try:
        graph = onnx_to_ir(load_model(model, input_shapes, CalibrationFile(calib) if calib else None))
        return PassManager(prefix).run(graph, PassContext(source_model=model)) if prefix else graph
    except SnnccError:
        return None


def calibration_shard(graph, calib: str, start: int, stop: int, total: int, batch_size: int) -> CalibrationStats:
    """Statistics of calibration rows [start, stop), read from the file by rows (memory-mapped)."""
    return stats_for_rows(graph, CalibrationFile(calib).rows(start, stop), start, total, batch_size=batch_size)


def merge_shards(*parts: CalibrationStats) -> CalibrationStats:
    return merge_all(parts)


def submit_calibration(executor, model: str, calib: str | None, points: Sequence[Point], options: dict,
                       shard_size: int) -> dict[str, object]:
    """{point id: a future of the merged CalibrationStats, or None}: one reduction per distinct calibration graph,
    in shards of `shard_size` rounded up to a multiple of the batch size (a shard starts on the batch grid)."""
    if calib is None:
        return {p.id: None for p in points}
    total = len(CalibrationFile(calib))
    graphs: dict[str, object] = {}
    merged: dict[tuple[str, int], object] = {}
    out: dict[str, object] = {}
    for point in points:
        found = stats_prefix(point, options)
        if found is not None and found[0] not in graphs:
            graphs[found[0]] = calibration_graph(model, found[0], calib)
        graph = graphs[found[0]] if found is not None else None
        if graph is None:
            out[point.id] = None
            continue
        key = (graph_digest(graph), found[1])
        if key not in merged:
            merged[key] = submit_stats(executor, graph, calib, total, found[1], shard_size)
        out[point.id] = merged[key]
    return out


def submit_stats(executor, graph, calib: str, total: int, batch_size: int, shard_size: int):
    """A future of the CalibrationStats of `graph` over the file's `total` rows: one task per shard of `shard_size`
    rounded up to a multiple of the batch size (a shard starts on the batch grid), then their merge in row order."""
    size = -(-shard_size // batch_size) * batch_size
    parts = [executor.submit(calibration_shard, graph, calib, start, stop, total, batch_size)
             for start, stop in shard_bounds(total, size)]
    return executor.submit(merge_shards, *parts)


def stats_on_cluster(model: str, calib: str, pipeline: str, scheduler: str, input_shapes: dict | None = None,
                     shard_size: int = DEFAULT_BATCH) -> CalibrationStats | None:
    """`snncc compile --scheduler`: the statistics `pipeline` gathers, by shards of `calib` on the Dask cluster at
    `scheduler` (its workers read the file at the same path); None when the pipeline gathers none."""
    from snncc.sweep.executor import dask_client

    found = pipeline_stats_prefix(pipeline)
    graph = calibration_graph(model, found[0], calib, input_shapes) if found else None
    if graph is None:
        return None
    with dask_client(scheduler) as executor:
        return submit_stats(executor, graph, calib, len(CalibrationFile(calib)), found[1], shard_size).result()
