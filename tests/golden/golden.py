"""The golden manifest: for every bundled model (models/*.onnx) and every registered coding, either the text IR file
its compilation must reproduce byte for byte, or the reason the coding does not apply to the model.

    tests/golden/manifest.json   [{"model": "digits_mlp", "coding": "rate", "options": {"timesteps": 32},
                                   "golden": "digits_mlp.rate.txt"},   (T: the coding's default, else -T's)
                                  {"model": "digits_silu", "coding": "rate", "options": {"timesteps": 32},
                                   "not_applicable": "pass 'lower-rate' failed on node %... cannot express ..."}]

`pytest --update-golden` (or `python -m tests.golden.golden`) recompiles every (model, coding) pair and rewrites the
manifest and the text files; a pair whose compilation fails with a user-facing SnnccError ("cannot express ...") is
recorded as not applicable with that message, so nothing is skipped silently.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
MANIFEST = GOLDEN / "manifest.json"
CLI_TIMESTEPS = 32   # `snncc compile -T` default


@contextmanager
def at_root():
    """Compile with paths relative to the repository root, so the header's `source` is the same everywhere."""
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(old)


def bundled_models() -> list[str]:
    return sorted(p.stem for p in (ROOT / "models").glob("*.onnx"))


def registered_codings() -> list[str]:
    from snncc.pipeline import CODINGS

    return sorted(CODINGS)


def default_options(model: str, coding: str) -> dict:
    """The options a pair is recorded with: the coding's pipeline builder's own default T where it declares one
    (bits: a few steps), else the CLI's -T default; and the calibration file: the one `snncc compile` finds next to
    the bundled model, else the model's data set `models/data/<prefix>.npz` (karate_gcn: karate.npz, one graph)."""
    import inspect

    import snncc
    from snncc.pipeline import CODINGS

    parameter = inspect.signature(CODINGS[coding]).parameters.get("timesteps")
    has_default = parameter is not None and isinstance(parameter.default, int)
    options = {"timesteps": parameter.default if has_default else CLI_TIMESTEPS}
    with at_root():
        calib = snncc.default_calibration_file(f"models/{model}.onnx")
        fallback = Path("models/data") / f"{model.split('_')[0]}.npz"
        if calib is None and fallback.is_file():
            options["calib"] = fallback.as_posix()
    return options


def golden_name(model: str, coding: str, options: dict) -> str:
    return f"{model}.{coding}.txt"


def compile_text(model: str, coding: str, options: dict) -> str:
    """The text IR of `models/<model>.onnx` compiled with `coding` and `options`, as `snncc compile` makes it
    (calibration: the file recorded next to the bundled model)."""
    from snncc.ir import to_text

    return to_text(compile_graph(model, coding, options))


def compile_graph(model: str, coding: str, options: dict):
    """`snncc compile models/<model>.onnx --coding <coding> [--calib FILE] -T ...` as a graph."""
    import snncc
    from snncc.data import load_npz

    options = dict(options)
    with at_root():
        path = f"models/{model}.onnx"
        calib = options.pop("calib", None) or snncc.default_calibration_file(path)
        calibration = load_npz(calib).x if calib else None
        return snncc.compile(path, coding, calibration=calibration, **options)


def load_manifest() -> list[dict]:
    if not MANIFEST.exists():
        return []
    return json.loads(MANIFEST.read_text())


def update(log=print) -> list[dict]:
    """Recompile every (bundled model, registered coding) pair and rewrite the manifest and golden files."""
    from snncc.errors import SnnccError

    entries = []
    gone = sorted({e["model"] for e in load_manifest()} - set(bundled_models()))
    if gone:
        log(f"dropping the entries of models no longer in models/: {', '.join(gone)}")
    for model in bundled_models():
        for coding in registered_codings():
            options = default_options(model, coding)
            entry = {"model": model, "coding": coding, "options": options}
            try:
                text = compile_text(model, coding, options)
            except SnnccError as exc:
                entry["not_applicable"] = str(exc)
                log(f"{model} {coding}: not applicable: {str(exc).splitlines()[0]}")
            else:
                if compile_text(model, coding, options) != text:
                    raise RuntimeError(f"{model} --coding {coding}: two compilations gave different text IR "
                                       "(nondeterminism); fix it before recording a golden file")
                entry["golden"] = golden_name(model, coding, options)
                (GOLDEN / entry["golden"]).write_text(text)
                log(f"{model} {coding}: wrote {entry['golden']}")
            entries.append(entry)
    wanted = {e["golden"] for e in entries if "golden" in e}
    for stale in GOLDEN.glob("*.txt"):
        if stale.name not in wanted:
            stale.unlink()
    MANIFEST.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return entries


if __name__ == "__main__":
    update()
