"""`snncc.compile`: ONNX model -> compiled spiking IR, through a coding's pipeline."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import onnx

from snncc.errors import DataError, OptionError
from snncc.frontend import load_onnx, onnx_to_ir, prepare
from snncc.ir import Graph
from snncc.ir.serialize import MAX_TIMESTEPS
from snncc.passes import PassContext, PassManager
from snncc.pipeline import pipeline_for

VERSION = "0.1.0"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_calibration_file(model_path: str | os.PathLike) -> Path | None:
    """The calibration set recorded next to a bundled model: `MODEL.calib.npz`, or `data/<prefix>_calib.npz`
    in the model's folder where prefix is the model name up to its first underscore (digits_cnn -> digits)."""
    path = Path(model_path)
    candidates = [path.with_suffix(".calib.npz"),
                  path.parent / "data" / f"{path.stem.split('_')[0]}_calib.npz"]
    return next((c for c in candidates if c.is_file()), None)


def default_test_file(model_path: str | os.PathLike) -> Path | None:
    """The test split recorded next to a bundled model: `MODEL.test.npz`, or `data/<prefix>_test.npz` in the
    model's folder (digits_cnn -> data/digits_test.npz), as for the calibration set."""
    path = Path(model_path)
    candidates = [path.with_suffix(".test.npz"),
                  path.parent / "data" / f"{path.stem.split('_')[0]}_test.npz"]
    return next((c for c in candidates if c.is_file()), None)


def _checked_calibration(graph: Graph, calibration) -> np.ndarray | None:
    """Calibration data must be numeric, finite and shaped (N, *input_shape): DataError before any pass runs."""
    if calibration is None:
        return None
    x = np.asarray(calibration)
    expected = list(graph.inputs[0].type.shape) if len(graph.inputs) == 1 else None
    if x.dtype.kind not in "fiu" or x.ndim < 1 or len(x) == 0:
        raise DataError(f"calibration data must be a non-empty numeric array (N, ...), got {x.dtype}{list(x.shape)}")
    if expected is not None and list(x.shape[1:]) != expected:
        raise DataError(f"calibration data has per-sample shape {list(x.shape[1:])} but the model's input "
                        f"%{graph.inputs[0].name} expects {expected}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise DataError("calibration data contains NaN or Inf")
    return x


def compile(model: str | os.PathLike | onnx.ModelProto | Graph, coding: str = "rate", *, timesteps: int = 32,
            calibration: np.ndarray | None = None, pipeline: str | None = None, progress: bool = False,
            print_after: str | None = None, profile=None, **coding_options) -> Graph:
    """Compile an ONNX model (path, ModelProto or an already imported IR graph) into a spiking IR graph.

    `pipeline` overrides the coding's default pass pipeline; `coding_options` go to the coding's pipeline builder
    (rate: balance, stat, percentile, v0, calibrate_snn: None = on at T <= 8 with calibration data). The pipeline
    string, coding, T and the source file's SHA-256 are recorded in the graph header.
    """
    if not 1 <= int(timesteps) <= MAX_TIMESTEPS:
        raise OptionError(f"timesteps must be in [1, {MAX_TIMESTEPS}], got {timesteps}")
    meta = {"coding": coding, "timesteps": str(int(timesteps)), "producer": f"snncc {VERSION}"}
    source = None
    if isinstance(model, Graph):
        graph = model
    elif isinstance(model, onnx.ModelProto):
        graph = onnx_to_ir(prepare(model))
    else:
        source = str(model)
        graph = onnx_to_ir(load_onnx(source))
        meta["source"] = source
        meta["source_sha256"] = file_sha256(source)
    calibration = _checked_calibration(graph, calibration)
    text = pipeline or pipeline_for(coding, timesteps=int(timesteps), has_calibration=calibration is not None,
                                    **coding_options)
    manager = PassManager(text, print_after=print_after, user_options=bool(pipeline))
    ctx = PassContext(calibration=calibration, source_model=source, timesteps=int(timesteps), progress=progress,
                      profile=profile)
    compiled = manager.run(graph, ctx)
    meta["pipeline"] = manager.pipeline_string()
    merged = dict(compiled.meta)
    merged.update(meta)
    return compiled.with_(meta=merged)
