"""Issue 19 item 14: FIFOs and devices given as .snnir or text inputs are refused before they are opened (they hung
the reader); `eval` does not hash a recorded source model larger than the memory cap (a 64 GiB sparse file took
106 s). Mapping and profile files: tests/robustness/test_mapping_files.py."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from snncc.ir import load, to_bytes
from tests.robustness.util import assert_clean_failure, run_cli, compile_tiny


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) when the block runs longer than `seconds`."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: the input was read instead of refused")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("special")
    compile_tiny(folder, labels=True)
    return folder


@pytest.mark.parametrize("command", ["inspect", "eval", "diff", "map", "export"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_as_the_compiled_model_is_refused(compiled, tmp_path, capsys, command, kind):
    if kind == "fifo":
        path = tmp_path / "pipe.snnir"
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    args = {"inspect": ["inspect", path], "eval": ["eval", path, "--data", compiled / "c.npz"],
            "diff": ["diff", compiled / "m.snnir", path],
            "map": ["map", path, "--profile", "generic", "-o", tmp_path / "o.map.json"],
            "export": ["export", path, "--format", "text", "-o", tmp_path / "o.txt"]}[command]
    with deadline(20):
        code, _, err = run_cli(capsys, *args)
    assert_clean_failure(code, err, "not a regular file")


def test_eval_does_not_hash_a_huge_recorded_source(compiled, tmp_path, capsys):
    huge = tmp_path / "huge.onnx"
    with open(huge, "wb") as f:
        f.truncate(64 << 30)                      # sparse: takes no disk space
    graph = load(compiled / "m.snnir")
    (tmp_path / "m.snnir").write_bytes(to_bytes(graph.with_(meta={**graph.meta, "source": str(huge)})))
    with deadline(20):
        code, out, err = run_cli(capsys, "eval", tmp_path / "m.snnir", "--data", compiled / "c.npz")
    assert code == 0, err
    assert "larger than the memory cap: no ANN reference" in out
