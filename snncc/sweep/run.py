"""`run_sweep`: plan the points, compile and evaluate them by shards on an executor, write one result file per point
as soon as its last shard is in (atomically, so a lost worker or a Ctrl-C never loses a finished point), then
`results.json` with every record in plan order."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Sequence

from snncc.compiler import file_sha256
from snncc.errors import DataError
from snncc.ir.atomic_write import atomic_write
from snncc.pipeline import uses_timesteps
from snncc.sweep.calibration import submit_calibration
from snncc.sweep.feasibility import coding_verdicts
from snncc.sweep.records import infeasible_record, point_record
from snncc.npz_shards import npz_members, shard_bounds
from snncc.sweep.tasks import Point, ann_shard, compile_point, eval_shard

RESULTS_FILE = "results.json"
POINTS_FOLDER = "points"


def plan_points(codings: Sequence[str], timesteps: Sequence[int], phases: Sequence[int | None]) -> list[Point]:
    """Every (coding, option): one point per T where T applies, one per phases K otherwise (None: its default)."""
    points = []
    for coding in codings:
        if uses_timesteps(coding):
            points += [Point(coding, timesteps=t) for t in timesteps]
        else:
            points += [Point(coding, phases=k) for k in phases]
    return points


def _key(future) -> object:
    return getattr(future, "key", None) or id(future)


def _fingerprint(model: str, calib: str | None, data: str, options: dict, shard_size: int) -> str:
    """What a point's result depends on besides the point: a stored result with another fingerprint is stale."""
    stat = os.stat(data)
    parts = [file_sha256(model), file_sha256(calib) if calib else "", f"{os.path.abspath(data)}:{stat.st_size}:"
             f"{stat.st_mtime_ns}", json.dumps(options, sort_keys=True), str(shard_size)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _stored(path: Path, fingerprint: str) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("fingerprint") == fingerprint else None


def run_sweep(model: str, data: str, out_dir: str | os.PathLike, executor, *, calib: str | None = None,
              codings: Sequence[str] = ("rate",), timesteps: Sequence[int] = (32,),
              phases: Sequence[int | None] = (None,), options: dict | None = None, shard_size: int = 256,
              limit: int | None = None, resume: bool = False, batch_size: int = 256,
              on_point: Callable[[dict], None] | None = None) -> list[dict]:
    """Sweep `model` over codings x options on the test set `data` (.npz with x and optional y), writing
    `out_dir/points/<id>.json` per point and `out_dir/results.json`. Returns the records in plan order."""
    options = dict(options or {})
    out = Path(out_dir)
    (out / POINTS_FOLDER).mkdir(parents=True, exist_ok=True)
    members = npz_members(data)
    if "x" not in members:
        raise DataError(f"{data}: no array named 'x' (found: {', '.join(sorted(members)) or 'none'})")
    x, y = members["x"], members.get("y")
    n = min(x.shape[0], limit) if limit else x.shape[0]
    if n == 0:
        raise DataError(f"{data}: 'x' holds no samples")
    if y is not None and y.shape[:1] != x.shape[:1]:
        raise DataError(f"{data}: 'y' has shape {list(y.shape)}, not one label row per sample of 'x'")
    fingerprint = _fingerprint(model, calib, data, dict(options, limit=limit), shard_size)
    shards = shard_bounds(n, shard_size)

    records: dict[str, dict] = {}
    verdicts = {v.coding: v for v in coding_verdicts(model, list(codings), calib)}
    pending = []
    for point in plan_points(codings, timesteps, phases):
        path = out / POINTS_FOLDER / f"{point.id}.json"
        verdict = verdicts.get(point.coding)
        if verdict is not None and not verdict.ok:
            records[point.id] = infeasible_record(point, verdict.reason)
        elif resume and (stored := _stored(path, fingerprint)) is not None:
            stored.pop("fingerprint")
            records[point.id] = stored
        else:
            pending.append(point)
    order = [p.id for p in plan_points(codings, timesteps, phases)]

    def finish(record: dict) -> None:
        atomic_write(out / POINTS_FOLDER / f"{record['id']}.json",
                     json.dumps(dict(record, fingerprint=fingerprint), indent=1, sort_keys=True) + "\n")
        records[record["id"]] = record
        if on_point:
            on_point(record)

    ann = [executor.submit(ann_shard, model, data, x, start, stop) for start, stop in shards]
    stats = submit_calibration(executor, model, calib, pending, options, shard_size)
    compiled = {p.id: executor.submit(compile_point, model, calib, p, options, stats[p.id]) for p in pending}
    evals, owner = {}, {}
    for point in pending:
        futures = [executor.submit(eval_shard, compiled[point.id], data, x, y, start, stop, ann[i], batch_size)
                   for i, (start, stop) in enumerate(shards)]
        evals[point.id] = futures
        for f in futures:
            owner[_key(f)] = point.id
    left = {pid: len(fs) for pid, fs in evals.items()}
    for future in executor.as_completed([f for fs in evals.values() for f in fs]):
        pid = owner[_key(future)]
        left[pid] -= 1
        if left[pid]:
            continue
        outcome = compiled[pid].result()
        if outcome.snnir is None:
            finish(infeasible_record(outcome.point, outcome.error))
            continue
        shard_counts = [f.result() for f in evals[pid]]   # in shard order: the merge is the same on every run
        total = shard_counts[0]
        for counts in shard_counts[1:]:
            total = total.merge(counts)
        finish(point_record(outcome, total))
    results = [records[pid] for pid in order]
    document = {"model": str(model), "data": str(data), "samples": n, "shard_size": shard_size, "points": results}
    atomic_write(out / RESULTS_FILE, json.dumps(document, indent=1, sort_keys=True) + "\n")
    return results
