"""The fuzz target: run one mutated .onnx, .snnir or text-form file through snncc (library or CLI) in a sandbox
folder, which is also the working directory, and classify the outcome.

A case passes when snncc either succeeds or raises a documented error (`SnnccError`; exit 0, 1 or 2 from the CLI),
finishes within the time limit, and writes nothing outside its output folder. Anything else (another exception type, a hang, a stray file) is a
finding, kept with its traceback and the input bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import snncc
from snncc.errors import SnnccError

REPO = Path(__file__).resolve().parents[2]
HANG_SECONDS = 10.0
FUZZ_MEMORY_CAP = "512M"
SLOW_CODINGS = {"amos"}   # fuzzed on the tiny seed only (see engine.fuzz)
MAP_MAX_SEED_BYTES = 100_000   # `snncc map` is fuzzed on the digits-sized seeds only


class Hang(BaseException):
    """A case ran past HANG_SECONDS (raised by SIGALRM)."""


@dataclass
class Seed:
    kind: str            # "onnx", "snnir" (binary) or "text" (the full-precision text form)
    name: str
    data: bytes
    calibration: np.ndarray | None = None   # matched to the seed model's input (onnx seeds)


@dataclass
class Finding:
    kind: str
    seed: str
    problem: str         # "exception", "hang", "stray file"
    detail: str
    data: bytes = field(repr=False, default=b"")


@dataclass
class Stats:
    cases: int = 0
    accepted: int = 0
    refused: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    slowest: float = 0.0


def tiny_onnx() -> tuple[bytes, np.ndarray]:
    from tests.robustness.util import calib, tiny_model

    return tiny_model().SerializeToString(), calib()


def bundled_seeds(include_models: bool = True, limit_models: int | None = None) -> list[Seed]:
    """ONNX seeds (a tiny model and the bundled models) and .snnir seeds (each compiled with rate coding)."""
    from snncc.compiler import default_calibration_file
    from snncc.data import load_npz

    data, x = tiny_onnx()
    seeds = [Seed("onnx", "tiny", data, x)]
    if include_models:
        models = sorted((REPO / "models").glob("*.onnx"))[:limit_models]
        for path in models:
            calib_file = default_calibration_file(path)
            if calib_file is None:
                continue
            seeds.append(Seed("onnx", path.stem, path.read_bytes(), load_npz(calib_file).x[:16]))
    import tempfile

    for seed in list(seeds):
        with tempfile.TemporaryDirectory(prefix="snncc-fuzz-seed-") as folder:
            path = Path(folder) / f"{seed.name}.onnx"
            path.write_bytes(seed.data)
            try:
                graph = snncc.compile(str(path), calibration=seed.calibration, timesteps=4)
            except SnnccError:
                continue
        seeds.append(Seed("snnir", seed.name + ".snnir", snncc.ir.to_bytes(graph), seed.calibration))
        seeds.append(Seed("text", seed.name + ".txt", snncc.ir.to_text(graph, full=True).encode(), seed.calibration))
    return seeds


def make_sandbox(root: Path) -> Path:
    """root/model/ holds the case's input plus decoys for external-data escapes; root/out/ is the only place a case
    may write; root/outside.bin and root/secret are outside the model's folder."""
    model_dir = root / "model"
    (root / "out").mkdir(parents=True)
    model_dir.mkdir()
    (root / "outside.bin").write_bytes(b"\x00" * 4096)
    (model_dir / "inside.bin").write_bytes(np.arange(1024, dtype=np.float32).tobytes())
    (model_dir / "link_out.bin").symlink_to(root / "outside.bin")
    (model_dir / "linkdir").symlink_to(root, target_is_directory=True)
    with contextlib.suppress(OSError, AttributeError):
        os.mkfifo(model_dir / "fifo")
    return root


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root except out/: (size, mtime_ns); links are listed, not followed."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel = Path(dirpath).relative_to(root)
        if rel.parts[:1] == ("out",):
            continue
        for name in dirnames:   # a folder's own size and mtime change when out/ is written: list it only
            found[str(rel / name)] = (0, 0)
        for name in filenames:
            st = os.lstat(Path(dirpath) / name)
            found[str(rel / name)] = (st.st_size, st.st_mtime_ns)
    return found


def _clear(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            import shutil

            shutil.rmtree(entry)
        else:
            entry.unlink()


def _on_alarm(signum, frame):
    raise Hang(f"ran longer than {HANG_SECONDS:.0f} s")


def run_case(seed: Seed, data: bytes, root: Path, *, via_cli: bool, simulate: bool, stats: Stats,
             command: int = 0, coding: str = "rate", pipeline: str | None = None) -> None:
    """Feed `data` (a mutation of `seed`) to snncc inside the sandbox `root` and record the outcome in `stats`."""
    model_dir, out_dir = root / "model", root / "out"
    path = model_dir / {"onnx": "case.onnx", "snnir": "case.snnir", "text": "case.txt"}[seed.kind]
    path.write_bytes(data)
    before = _snapshot(root)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    start = time.perf_counter()
    problem, detail, error_name = None, "", None
    quiet, messages = open(os.devnull, "w"), io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(messages):
            error_name = _target(seed, path, out_dir, via_cli=via_cli, simulate=simulate, command=command,
                                 coding=coding, pipeline=pipeline)
    except SnnccError as exc:
        error_name = type(exc).__name__
    except Hang as exc:
        problem, detail = "hang", str(exc)
    except Exception:  # noqa: BLE001 - exactly what the fuzzer looks for
        problem, detail = "exception", traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        quiet.close()
    if error_name and error_name.startswith("exit "):
        problem, detail, error_name = "exception", f"snncc {error_name}: {messages.getvalue()[-2000:]}", None
    elapsed = time.perf_counter() - start
    stats.slowest = max(stats.slowest, elapsed)
    if problem is None and elapsed > HANG_SECONDS:
        problem, detail = "hang", f"took {elapsed:.1f} s"
    after = _snapshot(root)
    stray = sorted(set(after) - set(before)) + sorted(k for k in before if k in after and after[k] != before[k]
                                                       and k != str(path.relative_to(root)))
    if problem is None and stray:
        problem, detail = "stray file", ", ".join(stray)
    stats.cases += 1
    if problem is not None:
        stats.findings.append(Finding(seed.kind, seed.name, problem, detail, data))
    elif error_name is None:
        stats.accepted += 1
    else:
        stats.refused += 1
        stats.errors[error_name] = stats.errors.get(error_name, 0) + 1
    _clear(out_dir)
    path.unlink(missing_ok=True)
    for extra in set(after) - set(before):   # never let one case's leftovers change the next
        with contextlib.suppress(OSError):
            (root / extra).unlink()


def _cli_args(seed: Seed, path: Path, out_dir: Path, command: int, coding: str = "rate") -> list[str]:
    """The CLI command a case runs: compile for ONNX; inspect, eval, diff, export or map for compiled graphs."""
    np.savez(out_dir / "data.npz", x=seed.calibration[:4])
    if seed.kind == "onnx":
        return ["compile", str(path), "--coding", coding, "--calib", str(out_dir / "data.npz"), "-T", "4", "-o", str(out_dir / "c.snnir"),
                "--emit-text", str(out_dir / "c.txt"), "--emit-program", str(out_dir / "prog"), "--no-progress"]
    reference = out_dir / ("seed.snnir" if seed.kind == "snnir" else "seed.txt")
    reference.write_bytes(seed.data)
    commands = [["inspect", str(path)] if seed.kind == "snnir" else ["export", str(path), "--format", "text", "-o",
                                                                     str(out_dir / "e.txt")],
                ["eval", str(path), "--data", str(out_dir / "data.npz"), "--timesteps", "2,4", "--no-progress"],
                ["diff", str(reference), str(path), "--exit-code"],
                ["map", str(path), "--profile", "generic", "-o", str(out_dir / "m.map.json"),
                 "--calib", str(out_dir / "data.npz")]]
    if len(seed.data) > MAP_MAX_SEED_BYTES:
        commands.pop()   # mapping mnist_cnn takes ~5 s CPU (20+ s on a loaded machine) before it refuses: not a hang
    return commands[command % len(commands)]


def _target(seed: Seed, path: Path, out_dir: Path, *, via_cli: bool, simulate: bool, command: int,
            coding: str = "rate", pipeline: str | None = None) -> str | None:
    """Run one case; returns None, or "exit N" when the CLI exits with a code other than 0, 1 (diff) and 2 (it
    never raises: main() catches everything, and exit 3 is its internal-error code)."""
    from snncc.cli import main

    if via_cli:
        args = _cli_args(seed, path, out_dir, command, coding)
        if pipeline is not None and args[0] == "compile":
            args += ["--pipeline", pipeline]
        code = main(args)
        if code == 1 and args[0] == "diff":
            code = 0
    elif seed.kind == "onnx":
        graph = snncc.compile(str(path), coding, calibration=seed.calibration, timesteps=4, pipeline=pipeline)
        if simulate:
            _simulate(graph, seed)
        return None
    else:
        from snncc.ir.parse import has_summaries, load_any

        graph = load_any(path)
        snncc.ir.to_text(graph)
        if has_summaries(graph):
            return None
        if simulate:
            _simulate(graph, seed)
        return None
    return None if code == 0 else "CLI exit 2" if code == 2 else f"exit {code}"


def _simulate(graph, seed: Seed) -> None:
    """Run the compiled graph on a few samples (the simulator's input checks are part of the target)."""
    from snncc.backends.simulator import simulate

    if seed.calibration is None or len(graph.inputs) != 1:
        return
    if tuple(graph.inputs[0].type.shape) != tuple(seed.calibration.shape[1:]):
        return
    try:
        simulate(graph, seed.calibration[:4], 4)
    except Exception as exc:  # noqa: BLE001
        from snncc.cli import _library_user_errors

        if isinstance(exc, _library_user_errors()):   # what the CLI reports as a user error (exit 2)
            raise SimulatorUserError(str(exc)) from None
        raise


class SimulatorUserError(SnnccError):
    """A simulator error the CLI turns into exit 2."""
