"""Calibration statistics gathered by shards of the calibration file and merged in row order equal the whole-set
pass bit for bit (in process and on a 2-worker LocalCluster), and a compile handed them emits the same IR bytes."""

import importlib

import numpy as np
import pytest

import snncc
from snncc.calibration_file import CalibrationFile
from snncc.data import load_npz
from snncc.frontend import load_onnx, onnx_to_ir
from snncc.ir import to_bytes
from snncc.npz_shards import shard_bounds
from snncc.passes import PassContext, PassManager
from snncc.passes.calibration_stats import merge_all, stats_for_rows
from snncc.pipeline import CANONICALIZE
from snncc.sweep import dask_client
from snncc.sweep.calibration import calibration_shard, merge_shards

MODEL = "models/digits_cnn.onnx"
CALIB = "models/data/digits_calib.npz"
BUDGET = 3000   # small: every gate keeps a random part of its rows, so the block-seeded sampling is exercised


@pytest.fixture(scope="module")
def graph():
    return PassManager(CANONICALIZE).run(onnx_to_ir(load_onnx(MODEL)), PassContext())


@pytest.fixture(scope="module")
def calib_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "calib.npz"
    np.savez(path, x=load_npz(CALIB).x)    # stored members: rows are memory-mapped
    return str(path)


def _flat(stats):
    """Every figure of every gate, as bytes: equality is bit for bit."""
    return {name: (np.float64(s.max).tobytes(), s.channel_max.tobytes(), s.samples.dtype.str, s.samples.shape,
                   s.samples.tobytes(), np.float64([s.input_min, s.input_max, s.input_mean, s.input_std]).tobytes())
            for name, s in stats.activations().items()}


def _sharded(graph, path, shard_size, batch_size):
    total = len(CalibrationFile(path))
    return merge_all(stats_for_rows(graph, CalibrationFile(path).rows(start, stop), start, total,
                                    batch_size=batch_size, sample_budget=BUDGET)
                     for start, stop in shard_bounds(total, shard_size))


def test_sharded_statistics_equal_the_whole_pass_bit_for_bit(graph, calib_file):
    x = load_npz(CALIB).x
    whole = stats_for_rows(graph, x, 0, len(x), batch_size=16, sample_budget=BUDGET)
    reference = _flat(whole)
    for shard_size in (16, 48, 64, 112, 256):
        merged = _sharded(graph, calib_file, shard_size, 16)
        assert merged.complete
        assert _flat(merged) == reference, f"shard size {shard_size}"


def test_the_row_sample_is_a_strict_random_part(graph):
    x = load_npz(CALIB).x
    stats = stats_for_rows(graph, x, 0, len(x), batch_size=16, sample_budget=BUDGET)
    for name, s in stats.activations().items():
        rows = len(x) * graph.node(name).type.size // stats.channels[name]
        assert 0 < len(s.samples) < rows and len(s.samples) * stats.channels[name] < 2 * BUDGET


def test_shards_merge_only_in_row_order(graph, calib_file):
    total = len(CalibrationFile(calib_file))
    first = stats_for_rows(graph, CalibrationFile(calib_file).rows(0, 64), 0, total, batch_size=16)
    third = stats_for_rows(graph, CalibrationFile(calib_file).rows(128, 192), 128, total, batch_size=16)
    with pytest.raises(ValueError, match="row order"):
        first.merge(third)
    with pytest.raises(ValueError, match="multiple of the batch size"):
        stats_for_rows(graph, CalibrationFile(calib_file).rows(8, 16), 8, total, batch_size=16)


def test_two_worker_cluster_statistics_equal_serial(graph, calib_file):
    x = load_npz(CALIB).x
    reference = _flat(stats_for_rows(graph, x, 0, len(x), batch_size=32))
    with dask_client(workers=2) as executor:
        parts = [executor.submit(calibration_shard, graph, calib_file, start, stop, len(x), 32)
                 for start, stop in shard_bounds(len(x), 64)]
        merged = executor.submit(merge_shards, *parts).result()
    assert _flat(merged) == reference


@pytest.mark.parametrize("coding, timesteps, options, head_only", [
    ("rate", 16, {}, True), ("amos", None, {"phases": 6}, True), ("bits", 4, {}, True),
    ("rate", 4, {}, False)])   # calibrate-snn (on at T <= 8) simulates every calibration sample
def test_compile_with_sharded_statistics_emits_the_same_bytes(calib_file, coding, timesteps, options, head_only,
                                                             monkeypatch):
    from snncc.sweep.calibration import calibration_graph, stats_prefix
    from snncc.sweep.tasks import Point

    point = Point(coding, timesteps=timesteps, phases=options.get("phases"))
    prefix, batch = stats_prefix(point, {})
    stats_graph = calibration_graph(MODEL, prefix, calib_file)
    total = len(CalibrationFile(calib_file))
    stats = merge_all(calibration_shard(stats_graph, calib_file, start, stop, total, batch)
                      for start, stop in shard_bounds(total, batch))
    timesteps = timesteps or 32
    serial = snncc.compile(MODEL, coding, timesteps=timesteps, calibration=load_npz(CALIB).x, **options)
    calibrate_module = importlib.import_module("snncc.passes.calibrate")

    def no_whole_pass(*args, **kwargs):
        raise AssertionError("the compile passed over the calibration set although it was handed its statistics")

    monkeypatch.setattr(calibrate_module, "collect_stats", no_whole_pass)
    monkeypatch.setattr(importlib.import_module("snncc.passes.balance_thresholds"), "collect_stats", no_whole_pass)
    calibration = CalibrationFile(calib_file)
    sharded = snncc.compile(MODEL, coding, timesteps=timesteps, calibration=calibration, calibration_stats=stats,
                            **options)
    assert to_bytes(sharded) == to_bytes(serial)
    assert (calibration._whole is None) == head_only   # else only the first rows were read (cross-check, rates)


def test_stats_of_another_graph_are_not_used(graph, calib_file):
    total = len(CalibrationFile(calib_file))
    other = stats_for_rows(graph, CalibrationFile(calib_file).rows(0, total), 0, total, batch_size=128)
    ctx = PassContext(calibration=CalibrationFile(calib_file), calibration_stats=other)
    from snncc.passes.calibration_stats import given_stats

    assert given_stats(graph, ctx, 256) is None        # another batch size
    assert given_stats(graph, ctx, 128) is not None
    assert any("given" in line for line in ctx.log)
