"""`snncc compile --scheduler`: the calibration statistics gathered by shards on a Dask cluster give the IR a plain
compile gives, byte for byte; without a calibration file it is a clear error."""

import pytest
from click.testing import CliRunner

from snncc.cli import cli

MODEL = "models/digits_cnn.onnx"
CALIB = "models/data/digits_calib.npz"


@pytest.fixture(scope="module")
def scheduler():
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


def test_compile_on_a_scheduler_equals_the_plain_compile(scheduler, tmp_path):
    args = ["compile", MODEL, "--calib", CALIB, "-T", "8", "--no-progress"]
    plain = CliRunner().invoke(cli, args + ["-o", str(tmp_path / "plain.snnir")])
    sharded = CliRunner().invoke(cli, args + ["-o", str(tmp_path / "sharded.snnir"), "--scheduler", scheduler])
    assert plain.exit_code == 0 and sharded.exit_code == 0, sharded.output
    assert (tmp_path / "sharded.snnir").read_bytes() == (tmp_path / "plain.snnir").read_bytes()


def test_scheduler_needs_a_calibration_file(tmp_path, capsys):
    import shutil

    from snncc.cli import main

    shutil.copy("models/karate_gcn.onnx", tmp_path / "lonely.onnx")   # no calibration set recorded next to it
    code = main(["compile", str(tmp_path / "lonely.onnx"), "--scheduler", "tcp://127.0.0.1:1", "-o",
                 str(tmp_path / "m.snnir"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "pass --calib" in err and "Traceback" not in err and not (tmp_path / "m.snnir").exists()
