"""`snncc.compile`: ONNX model -> compiled spiking IR, through a coding's pipeline."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import onnx

from snncc.calibration_file import CalibrationFile
from snncc.errors import DataError, OptionError, PassError
from snncc.frontend import onnx_to_ir, prepare
from snncc.frontend.input_shape import needs_input_shapes, shapes_from_calibration
from snncc.frontend.load import read_model
from snncc.ir import Graph
from snncc.ir.serialize import MAX_TIMESTEPS
from snncc.passes import PassContext, PassManager
from snncc.passes.calibration_stats import CalibrationStats
from snncc.pipeline import pipeline_for

from snncc.version import VERSION  # noqa: E402,F401 - re-exported: snncc.compiler.VERSION


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


def _checked_calibration(graph: Graph, calibration) -> np.ndarray | CalibrationFile | None:
    """Calibration data must be numeric, finite and shaped (N, *input_shape): DataError before any pass runs."""
    if calibration is None:
        return None
    expected = list(graph.inputs[0].type.shape) if len(graph.inputs) == 1 else None
    if isinstance(calibration, CalibrationFile):   # checked as its rows are read
        if expected is not None and list(calibration.shape[1:]) != expected:
            raise DataError(f"{calibration.path}: 'x' has per-sample shape {list(calibration.shape[1:])} but the "
                            f"model's input %{graph.inputs[0].name} expects {expected}")
        return calibration
    x = np.asarray(calibration)
    if x.dtype.kind not in "fiu" or x.ndim < 1 or len(x) == 0:
        raise DataError(f"calibration data must be a non-empty numeric array (N, ...), got {x.dtype}{list(x.shape)}")
    if expected is not None and list(x.shape[1:]) != expected:
        raise DataError(f"calibration data has per-sample shape {list(x.shape[1:])} but the model's input "
                        f"%{graph.inputs[0].name} expects {expected}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise DataError("calibration data contains NaN or Inf")
    return x


def load_model(model: str | os.PathLike | onnx.ModelProto, input_shapes: dict | None = None,
               calibration: np.ndarray | None = None, working_batch: int | None = None,
               outputs: tuple[str, ...] = ()) -> onnx.ModelProto:
    """The checked, shape-inferred ONNX model; dynamic input axes sized by `input_shapes` ({name: dims}, batch
    first), else by the calibration data's per-sample shape. `working_batch`: see `prepare`."""
    raw = read_model(Path(model)) if not isinstance(model, onnx.ModelProto) else model
    if not input_shapes and calibration is not None:
        if callable(calibration) and not needs_input_shapes(raw):
            calibration = None    # a lazy loader is only called when its shape is needed
        elif callable(calibration):
            calibration = calibration()
    if not input_shapes and calibration is not None:
        input_shapes = shapes_from_calibration(raw, tuple(np.shape(calibration)[1:]))
    return prepare(raw, "model" if isinstance(model, onnx.ModelProto) else str(model), input_shapes=input_shapes,
                   outputs=tuple(outputs), **({"working_batch": working_batch} if working_batch else {}))


def preflight(graph: Graph, coding: str, pipeline: str, timesteps: int, *, custom: bool = False, profile=None,
              **coding_options) -> None:
    """Refuse a coding (or a custom pipeline) the graph-only check finds blocked (PassError, as the pass itself
    would after calibration): the blockers and the codings that work."""
    from snncc.check import check_graph, check_pipeline
    from snncc.check.table import blocker_summary

    verdict = check_pipeline(graph, pipeline, coding, timesteps)
    if profile is not None:   # the hardware the result is mapped onto (compile --target)
        from snncc.check.profile_fit import profile_blockers
        from snncc.check.verdict import BLOCKED, Verdict

        stops = tuple(b for b in profile_blockers(graph, coding, profile) if b.blocking)
        if stops:
            verdict = Verdict(coding, BLOCKED, verdict.blockers + stops)
    if verdict.ok:
        return
    what = "the pipeline" if custom else f"--coding {coding}"
    others = [v.coding for v in check_graph(graph, timesteps=timesteps, profile=profile, **coding_options)
              if v.status == "works" and v.coding != coding]
    hint = (f"; would work: {' or '.join('--coding ' + c for c in others)}" if others
            else f"; {verdict.blockers[0].fix}" if verdict.blockers[0].fix else "")
    raise PassError(f"{what} cannot compile this model (found before calibration): "
                                f"{blocker_summary(verdict.blockers)}{hint}. `snncc check MODEL` lists every coding")


def compile(model: str | os.PathLike | onnx.ModelProto | Graph, coding: str = "rate", *, timesteps: int = 32,
            calibration: np.ndarray | CalibrationFile | None = None, pipeline: str | None = None,
            progress: bool = False, print_after: str | None = None, profile=None, record_spike_rates: bool = True,
            input_shapes: dict | None = None, calibration_stats: CalibrationStats | None = None,
            outputs: tuple[str, ...] = (), **coding_options) -> Graph:
    """Compile an ONNX model (path, ModelProto or an already imported IR graph) into a spiking IR graph.

    `pipeline` overrides the coding's default pass pipeline; `coding_options` go to the coding's pipeline builder
    (rate: balance, stat, percentile, v0, calibrate_snn: None = on at T <= 8 with calibration
    data). `input_shapes` ({input name: (N, C, H, W)}) sizes dynamic input axes;
    without it they take the calibration data's per-sample shape. `outputs` (tensor names) cuts the model there,
    before post-processing no coding computes (recorded in the header: eval runs the ANN cut the same way). The pipeline string, coding, T and the source
    file's SHA-256 are recorded in the graph header, and with calibration data the spike rate of every population
    measured on it (`spike_rates`, the traffic `snncc map` uses; `record_spike_rates=False` leaves it out).

    The pre-flight check (`snncc.check`) runs first: a coding that cannot express the graph is refused before
    calibration (PassError naming the nodes and the codings that would work). `calibration` may be a
    zero-argument callable that loads the data: it is called only once the check passed, or a CalibrationFile
    (rows read when a pass needs them). `calibration_stats`, gathered over the same set by shards, replace the
    calibrate pass's own pass over it when they match the graph (the compiled IR is the same byte for byte).
    """
    if not 1 <= int(timesteps) <= MAX_TIMESTEPS:
        raise OptionError(f"timesteps must be in [1, {MAX_TIMESTEPS}], got {timesteps}")
    meta = {"coding": coding, "timesteps": str(int(timesteps)), "producer": f"snncc {VERSION}"}
    if outputs:
        meta["outputs"] = ",".join(outputs)
    source = None
    if isinstance(model, Graph):
        graph = model
    elif isinstance(model, onnx.ModelProto):
        graph = onnx_to_ir(load_model(model, input_shapes, calibration, outputs=outputs))
    else:
        source = str(model)
        graph = onnx_to_ir(load_model(source, input_shapes, calibration, outputs=outputs))
        meta["source"] = source
        meta["source_sha256"] = file_sha256(source)
    if outputs and not isinstance(model, Graph):   # calibrate's onnxruntime cross-check cuts the source model too
        graph = graph.with_(meta={**graph.meta, "outputs": meta["outputs"]})
    if pipeline is not None and not pipeline.strip():
        raise OptionError("--pipeline is empty; give at least one pass (see `snncc passes`), or leave the option "
                          "out for the coding's default pipeline")
    text = pipeline or pipeline_for(coding, timesteps=int(timesteps), has_calibration=calibration is not None,
                                    **coding_options)
    manager = PassManager(text, print_after=print_after, user_options=bool(pipeline))
    names = [name for name, _ in manager.items()]   # an unknown pass in a user pipeline is an option error now
    if print_after is not None and print_after != "all" and print_after not in names:
        raise OptionError(f"--print-after {print_after!r} names no pass of this pipeline; choose 'all' or one of "
                          f"{', '.join(dict.fromkeys(names))}")
    if isinstance(profile, (str, os.PathLike)):
        from snncc.backends.coremap import load_profile

        profile = load_profile(profile)
    preflight(graph, coding, text, int(timesteps), custom=bool(pipeline), profile=profile, **coding_options)
    if callable(calibration):
        calibration = calibration()
    calibration = _checked_calibration(graph, calibration)
    text = pipeline or pipeline_for(coding, timesteps=int(timesteps), has_calibration=calibration is not None,
                                    **coding_options)
    manager = PassManager(text, print_after=print_after, user_options=bool(pipeline))
    ctx = PassContext(calibration=calibration, source_model=source, timesteps=int(timesteps), progress=progress,
                      profile=profile, calibration_stats=calibration_stats)
    graphs = [graph]
    del graph   # the pass manager holds the only reference: the imported graph is freed after the first rewrite
    compiled = manager.run_taking(graphs, ctx)
    meta["pipeline"] = manager.pipeline_string()
    merged = dict(compiled.meta)
    merged.update(meta)
    compiled = compiled.with_(meta=merged)
    if record_spike_rates and calibration is not None and len(compiled.inputs) == 1:
        from snncc.backends.coremap.traffic import HEADER_KEY, format_rates, population_rates
        from snncc.backends.simulator.kernels import NotLoweredError

        try:
            merged[HEADER_KEY] = format_rates(population_rates(compiled, calibration, int(timesteps),
                                                               progress=progress))
            compiled = compiled.with_(meta=merged)
        except NotLoweredError:
            pass        # a pipeline that stops before lowering (ANN mode) has no spikes to measure
    return compiled
