"""What a command that reads a compiled SNN (`eval`, `inspect`, `diff`, `export`, `map`) does with its inputs when a
newcomer hands it something else: an ONNX model is named as one, with the `snncc compile` line to run first; a
missing `--data` falls back to the test split recorded next to a bundled source model."""

from __future__ import annotations

import os
from pathlib import Path

from snncc.errors import DataError, ModelLoadError


def is_onnx_model(path: str | os.PathLike) -> bool:
    """True for a `.onnx` file, or any file whose bytes parse as an ONNX ModelProto with a graph and an opset."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return True
    try:
        import onnx

        if not path.is_file() or path.stat().st_size > (1 << 31):
            return False
        model = onnx.ModelProto.FromString(path.read_bytes())
    except Exception:  # noqa: BLE001 - anything unparsable is simply not an ONNX model
        return False
    return bool(model.ir_version and model.opset_import and len(model.graph.node))


def onnx_instead_of_snnir(path: str | os.PathLike, command: str) -> ModelLoadError:
    """The error for `snncc COMMAND model.onnx`: say what the file is and the compile line to run first."""
    compiled = Path(path).with_suffix(".snnir").name
    if compiled == Path(path).name:   # an ONNX model saved under a .snnir name
        compiled = Path(path).stem + "_snn.snnir"
    return ModelLoadError(f"{path}: this is an ONNX model; compile it first with `snncc compile {path} -o {compiled}`,"
                          f" then run `snncc {command} {compiled}`")


def read_compiled(path: str | os.PathLike, command: str, *, text_too: bool = False, lazy: bool = False):
    """Load a compiled graph (`.snnir`; with `text_too` also its text form); an ONNX model is an error naming the
    compile step, never a protobuf parse error. `lazy`: a .snnir's constants are read when used (`ir.lazy_load`)."""
    from snncc.errors import FormatError

    if Path(path).suffix.lower() == ".onnx" and Path(path).is_file():
        raise onnx_instead_of_snnir(path, command)
    try:
        if text_too:
            from snncc.ir.parse import load_any

            return load_any(path, lazy=lazy)
        from snncc.ir import load

        return load(path, lazy=lazy)
    except FormatError as exc:
        if is_onnx_model(path):
            raise onnx_instead_of_snnir(path, command) from None
        if text_too:
            raise ModelLoadError(f"{path}: {exc}") from None
        raise


def default_test_data(graph) -> Path:
    """The test split recorded next to the graph's source model (`snncc eval` without --data); DataError when there
    is none."""
    from snncc.compiler import default_test_file

    source = graph.meta.get("source")
    found = default_test_file(source) if source else None
    if found is None:
        where = f"next to its source model {source}" if source else "(the compiled model records no source model)"
        raise DataError(f"no --data given and no test split recorded {where}; pass --data TEST.npz (an .npz with "
                        "'x' and optional labels 'y')")
    return found
