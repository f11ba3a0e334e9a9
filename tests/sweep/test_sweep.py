"""`snncc sweep`: a Dask sweep equals the in-process one bit for bit, survives a lost worker, resumes, and agrees
with `snncc eval`; the report's plots are real PNGs."""

import json
import os
import signal

import numpy as np
import pytest

from snncc.data import load_npz
from snncc.sweep import SerialClient, dask_client, run_sweep
from snncc.sweep.records import TIMING_FIELDS
from snncc.sweep.report import PLOTS, REPORT_FILE, pareto_front, write_report

MODEL = "models/digits_mlp.onnx"
CALIB = "models/data/digits_calib.npz"
DATA = "models/data/digits_test.npz"
SWEEP = dict(calib=CALIB, codings=["rate", "bits"], timesteps=[2, 4], shard_size=50, limit=100)


def _untimed(records):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    return out, run_sweep(MODEL, DATA, out, SerialClient(), **SWEEP)


@pytest.fixture(scope="module")
def cluster():
    with dask_client(workers=2) as executor:
        yield executor


def test_serial_sweep_records_every_point(serial):
    out, records = serial
    assert [r["id"] for r in records] == ["rate-T2", "rate-T4", "bits-T2", "bits-T4"]
    assert all(r["status"] == "ok" and r["samples"] == 100 for r in records)
    assert sorted(p.name for p in (out / "points").iterdir()) == sorted(f"{r['id']}.json" for r in records)
    document = json.loads((out / "results.json").read_text())
    assert _untimed(document["points"]) == _untimed(records)


def test_two_worker_cluster_equals_serial_bit_for_bit(serial, cluster, tmp_path):
    records = run_sweep(MODEL, DATA, tmp_path, cluster, **SWEEP)
    assert _untimed(records) == _untimed(serial[1])   # float fields compared with ==, so bit for bit


def test_sweep_point_equals_snncc_eval(serial, tmp_path):
    """The shard merge gives what one whole-set evaluation gives."""
    import snncc
    from snncc.evaluate import evaluate

    graph = snncc.compile(MODEL, "rate", timesteps=4, calibration=load_npz(CALIB).x)
    data = load_npz(DATA)
    whole = evaluate(graph, type(data)(data.x[:100], data.y[:100], None), [4])
    record = next(r for r in serial[1] if r["id"] == "rate-T4")
    assert record["accuracy"] == whole.snn_accuracy[4] and record["agreement"] == whole.agreement[4]
    assert record["ann_accuracy"] == whole.ann_accuracy
    assert record["spikes_per_sample"] == pytest.approx(whole.spikes_per_sample, rel=1e-12)
    assert record["synops_per_sample"] == pytest.approx(whole.synops_per_sample, rel=1e-12)
    assert record["energy_ratio"] == pytest.approx(whole.energy_ratio[4], rel=1e-12)


def test_resume_keeps_finished_points(serial, tmp_path):
    out, records = serial
    first = run_sweep(MODEL, DATA, tmp_path, SerialClient(), **SWEEP)
    (tmp_path / "points" / "bits-T2.json").unlink()
    compiled = []

    class Counting(SerialClient):
        def submit(self, fn, *args, **kwargs):
            if fn.__name__ == "compile_point":
                compiled.append(args[2].id)
            return super().submit(fn, *args, **kwargs)

    again = run_sweep(MODEL, DATA, tmp_path, Counting(), resume=True, **SWEEP)
    assert compiled == ["bits-T2"]
    assert again == first or _untimed(again) == _untimed(first)
    stale = run_sweep(MODEL, DATA, tmp_path, Counting(), resume=True, **dict(SWEEP, limit=80))
    assert len(compiled) == 1 + 4 and stale[0]["samples"] == 80   # other data: nothing reused


def test_report_has_non_empty_png_plots(serial, tmp_path):
    from PIL import Image

    _, records = serial
    report = write_report(records, tmp_path, "digits_mlp")
    page = report.read_text()
    assert report.name == REPORT_FILE and page.count("data:image/png;base64,") == len(PLOTS)
    for name in PLOTS:
        image = Image.open(tmp_path / "plots" / name).convert("L")
        pixels = np.asarray(image)
        assert image.size[0] > 200 and pixels.min() < 100 < pixels.max()   # drawn, not blank
    front = pareto_front(records)
    assert front and all(f">{r}</td>" in page for r in front)


def test_pareto_front():
    rs = [dict(id=i, status="ok", accuracy=a, spikes_per_sample=s)
          for i, a, s in [("a", 0.9, 10.0), ("b", 0.95, 20.0), ("c", 0.9, 30.0), ("d", 0.97, 20.0)]]
    assert pareto_front(rs) == {"a", "d"}


def test_infeasible_points_are_recorded(tmp_path):
    records = run_sweep(MODEL, DATA, tmp_path, SerialClient(), **dict(SWEEP, codings=["bits"], timesteps=[4, 30]))
    assert records[0]["status"] == "ok"
    assert records[1]["status"] == "infeasible" and "between 1 and 24" in records[1]["reason"]


def test_a_worker_killed_mid_run_is_survived(serial, cluster, tmp_path):
    """Last in the file: it reuses the 2-worker cluster (its nanny restarts the killed worker)."""
    pids = list(cluster.client.run(os.getpid).values())
    killed = []

    def kill_one(record):
        if not killed:   # the first point is in: the others are queued or running
            os.kill(pids[0], signal.SIGKILL)
            killed.append(record["id"])

    records = run_sweep(MODEL, DATA, tmp_path, cluster, on_point=kill_one, **SWEEP)
    assert killed
    assert _untimed(records) == _untimed(serial[1])


def test_compile_points_are_handed_the_calibration_statistics(tmp_path, monkeypatch):
    """The sweep gathers the statistics once (by shards); no compile task passes over the calibration set."""
    import importlib

    def no_whole_pass(*args, **kwargs):
        raise AssertionError("a compile task passed over the whole calibration set")

    monkeypatch.setattr(importlib.import_module("snncc.passes.calibrate"), "collect_stats", no_whole_pass)
    monkeypatch.setattr(importlib.import_module("snncc.passes.balance_thresholds"), "collect_stats", no_whole_pass)
    records = run_sweep(MODEL, DATA, tmp_path, SerialClient(), calib=CALIB, codings=["rate", "bits"],
                        timesteps=[2], shard_size=100, limit=20)
    assert [r["status"] for r in records] == ["ok", "ok"]
