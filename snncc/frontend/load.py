"""Safe ONNX loading: external data confined to the model's folder, checker, opset normalisation, constant folding
of shape computations, shape inference."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from onnx import external_data_helper

from snncc.errors import ModelLoadError

MIN_OPSET = 13


def _check_external_data(model: onnx.ModelProto, folder: Path) -> None:
    root = folder.resolve()
    for tensor in external_data_helper._get_all_tensors(model):  # noqa: SLF001 - the onnx helper has no public twin
        if not external_data_helper.uses_external_data(tensor):
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        if not location or os.path.isabs(location) or location.startswith(("/", "\\")):
            raise ModelLoadError(f"tensor {tensor.name!r}: external data path {location!r} is absolute; "
                                 "only files inside the model's folder are read")
        target = (folder / location).resolve()
        if root not in target.parents and target != root:
            raise ModelLoadError(f"tensor {tensor.name!r}: external data path {location!r} leaves the model's "
                                 "folder; refusing to read it")
        if not target.is_file():
            raise ModelLoadError(f"tensor {tensor.name!r}: external data file {location!r} does not exist")


def load_onnx(path: str | os.PathLike) -> onnx.ModelProto:
    """Read, check and normalise an ONNX model; ModelLoadError with the reason on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for garbage
        raise ModelLoadError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.graph.node and not model.graph.input:
        raise ModelLoadError(f"{path}: not an ONNX model (empty graph)")
    _check_external_data(model, path.parent)
    try:
        external_data_helper.load_external_data_for_model(model, str(path.parent))
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"{path}: cannot read external data ({exc})") from None
    return prepare(model, str(path))


def _default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 0


def prepare(model: onnx.ModelProto, where: str = "model") -> onnx.ModelProto:
    """Checker, version conversion up to opset 13 when older, constant folding, shape inference."""
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"{where}: the ONNX checker rejects this model: {str(exc).strip()}") from None
    opset = _default_opset(model)
    if opset < MIN_OPSET:
        try:
            model = onnx.version_converter.convert_version(model, MIN_OPSET)
        except Exception as exc:  # noqa: BLE001
            raise ModelLoadError(f"{where}: opset {opset} could not be converted to {MIN_OPSET} ({exc}); "
                                 f"re-export the model with opset >= {MIN_OPSET}") from None
    try:
        import onnxscript.optimizer

        # folds Shape -> Gather -> Concat -> Reshape chains and other constant subgraphs
        onnxscript.optimizer.fold_constants(model)
    except Exception:  # noqa: BLE001 - folding is an optimisation; conversion reports what stays unsupported
        pass
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"{where}: ONNX shape inference failed: {exc}") from None
    return model
