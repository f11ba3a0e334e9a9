"""Issue 19 items 2-5 (and the long-name part of 20): outputs never replace a device, FIFO, socket or link;
colliding outputs, or an output naming an input, are refused before any work; the commit is all or nothing (checked
first, rolled back on a failing rename); staging happens after all work, and temporaries a killed run left behind
are removed by the next run in that folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import snncc.outputs as outputs
from snncc.ir.atomic_write import atomic_write, temp_path
from tests.robustness.util import assert_clean_failure, calib, run_cli, save_model, tiny_model


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_model(tiny_model(), tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", x=calib())
    return "m.onnx"


def _compile(capsys, *extra):
    return run_cli(capsys, "compile", "m.onnx", "--calib", "c.npz", "--no-progress", *extra)


def _snapshot(folder) -> dict[str, bytes | str]:
    """Every entry under `folder` with its bytes (files), its kind (others)."""
    snap = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            snap[key] = "link->" + os.readlink(path)
        elif path.is_fifo():
            snap[key] = "fifo"
        elif path.is_socket():
            snap[key] = "socket"
        elif path.is_file():
            snap[key] = path.read_bytes()
        else:
            snap[key] = "dir"
    return snap


def _special(tmp_path, kind: str):
    path = tmp_path / f"special.{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link":
        (tmp_path / "real.snnir").write_bytes(b"keep")
        os.symlink("real.snnir", path)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    return path.name


@pytest.mark.parametrize("kind", ["fifo", "link", "socket"])
@pytest.mark.parametrize("option", ["-o", "--emit-text"])
def test_an_output_that_is_not_a_regular_file_is_refused(tmp_path, capsys, model, kind, option):
    name = _special(tmp_path, kind)
    before = _snapshot(tmp_path)
    args = ["-o", name] if option == "-o" else ["-o", "o.snnir", "--emit-text", name]
    code, _, err = _compile(capsys, *args)
    assert_clean_failure(code, err, name, "refusing to replace it" if kind != "link" else "symbolic link")
    assert _snapshot(tmp_path) == before


def test_the_real_dev_null_is_refused_and_stays_a_device(tmp_path, capsys, model):
    """Issue 19 item 2 with a real device node (as root, replacing /dev/null would break the system)."""
    import stat

    before = os.stat("/dev/null")
    assert stat.S_ISCHR(before.st_mode)
    code, _, err = _compile(capsys, "-o", "o.snnir")
    assert code == 0, err
    for args in (["compile", "m.onnx", "--calib", "c.npz", "--no-progress", "-o", "/dev/null"],
                 ["compile", "m.onnx", "--calib", "c.npz", "--no-progress", "-o", "p.snnir", "--emit-text", "/dev/null"],
                 ["export", "o.snnir", "--format", "text", "-o", "/dev/null"],
                 ["map", "o.snnir", "--profile", "generic", "-o", "/dev/null"]):
        code, _, err = run_cli(capsys, *args)
        assert_clean_failure(code, err, "/dev/null")
        after = os.stat("/dev/null")
        assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert not (tmp_path / "p.snnir").exists()


def test_export_and_map_refuse_a_fifo_too(tmp_path, capsys, model):
    code, _, err = _compile(capsys, "-o", "o.snnir")
    assert code == 0, err
    os.mkfifo(tmp_path / "pipe")
    before = _snapshot(tmp_path)
    for args in (["export", "o.snnir", "--format", "text", "-o", "pipe"],
                 ["map", "o.snnir", "--profile", "generic", "-o", "pipe"]):
        code, _, err = run_cli(capsys, *args)
        assert_clean_failure(code, err, "pipe", "FIFO")
    with pytest.raises(OSError, match="FIFO"):
        atomic_write(tmp_path / "pipe", b"x")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("args", [
    ["-o", "X", "--emit-text", "X"],
    ["-o", "sub/./X", "--emit-text", "sub/../sub/X"],
    ["-o", "o.snnir", "--emit-text", "o.map.json", "--target", "generic"],
    ["-o", "m.onnx"],
    ["-o", "o.snnir", "--emit-text", "c.npz"],
    ["-o", "o.snnir", "--emit-text", "hard.npz"],          # a hard link to the calibration file
    ["-o", "o.snnir", "--emit-text", "alias.onnx"],        # a symbolic link to the model
])
def test_colliding_paths_are_refused_before_any_work(tmp_path, capsys, model, monkeypatch, args):
    (tmp_path / "sub").mkdir()
    os.link(tmp_path / "c.npz", tmp_path / "hard.npz")
    os.symlink("m.onnx", tmp_path / "alias.onnx")
    before = _snapshot(tmp_path)
    import snncc

    monkeypatch.setattr(snncc, "compile", lambda *a, **k: pytest.fail("compiled despite colliding paths"))
    code, _, err = _compile(capsys, *args)
    assert_clean_failure(code, err, "same file")
    assert _snapshot(tmp_path) == before


def test_map_and_export_refuse_to_overwrite_their_input(tmp_path, capsys, model):
    assert _compile(capsys, "-o", "o.snnir")[0] == 0
    before = _snapshot(tmp_path)
    for args in (["export", "o.snnir", "--format", "text", "-o", "./o.snnir"],
                 ["map", "o.snnir", "--profile", "generic", "-o", "o.snnir"],
                 ["map", "o.snnir", "--profile", "generic", "--calib", "c.npz", "-o", "c.npz"]):
        code, _, err = run_cli(capsys, *args)
        assert_clean_failure(code, err, "same file")
    assert _snapshot(tmp_path) == before


def test_a_blocked_destination_inside_the_program_folder_changes_nothing(tmp_path, capsys, model):
    (tmp_path / "o.snnir").write_bytes(b"old model")
    (tmp_path / "prog" / "program.json").mkdir(parents=True)   # a folder where the program file goes
    before = _snapshot(tmp_path)
    code, _, err = _compile(capsys, "-o", "o.snnir", "--emit-text", "o.txt", "--emit-program", "prog")
    assert_clean_failure(code, err, "program.json", "is a folder")
    assert _snapshot(tmp_path) == before


def test_a_failing_rename_rolls_back_the_ones_before(tmp_path, capsys, model, monkeypatch):
    (tmp_path / "o.snnir").write_bytes(b"old model")
    before = _snapshot(tmp_path)
    real = os.replace
    calls = []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(outputs.os, "replace", second_fails)
    code, _, err = _compile(capsys, "-o", "o.snnir", "--emit-text", "o.txt")
    assert_clean_failure(code, err, "No space left on device", "nothing was changed")
    assert _snapshot(tmp_path) == before


def test_outputs_are_staged_only_after_the_mapping(tmp_path, capsys, model, monkeypatch):
    import snncc.backends.coremap as coremap

    real = coremap.map_graph
    staged = []

    def spy(*args, **kwargs):
        staged.extend(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
        return real(*args, **kwargs)

    monkeypatch.setattr(coremap, "map_graph", spy)
    code, _, err = _compile(capsys, "-o", "o.snnir", "--target", "generic")
    assert code == 0, err
    assert staged == []


_SLOW_MAPPING = textwrap.dedent("""
    import sys, time
    import snncc.backends.coremap as coremap
    def slow(*args, **kwargs):
        print("MAPPING", file=sys.stderr, flush=True)
        time.sleep(60)
    coremap.map_graph = slow
    from snncc.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_sigkill_while_mapping_leaves_nothing_and_stale_temps_are_removed_later(tmp_path, capsys, model):
    stale = tmp_path / temp_path(tmp_path / "o.snnir").name.replace(f"-{os.getpid()}-", "-999999999-")
    stale.write_bytes(b"left by a killed run")
    old = tmp_path / temp_path(tmp_path / "o.txt").name.replace(f"-{os.getpid()}-", f"-{os.getppid()}-")
    old.write_bytes(b"a live process's, but a day old")
    os.utime(old, (time.time() - 86400,) * 2)
    live = tmp_path / temp_path(tmp_path / "x.snnir").name.replace(f"-{os.getpid()}-", f"-{os.getppid()}-")
    live.write_bytes(b"a live process's, fresh: kept")
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_MAPPING, "compile", "m.onnx", "--calib", "c.npz",
                             "-o", "o.snnir", "--emit-text", "o.txt", "--target", "generic", "--no-progress"],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    while line and "MAPPING" not in line:
        line = proc.stderr.readline()
    assert "MAPPING" in line
    proc.kill()
    proc.wait(timeout=30)
    assert not (tmp_path / "o.snnir").exists()
    # the killed run removed the stale temporaries when it started, and had staged nothing of its own
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [live.name]
    stale.write_bytes(b"left by a killed run")
    code, _, err = _compile(capsys, "-o", "o.snnir")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == [live.name]


def test_a_long_legal_output_name_works(tmp_path, capsys, model):
    name = "n" * 244 + ".snnir"      # 250 bytes: legal; the temporary name must still fit in 255
    code, _, err = _compile(capsys, "-o", name, "--emit-text", "é" * 120 + ".txt")
    assert code == 0, err
    assert (tmp_path / name).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
