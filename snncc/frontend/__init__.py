"""ONNX frontend: safe loading and conversion to the IR; `converter` registers converters for more ONNX ops."""

from snncc.frontend.convert import onnx_to_ir, unsupported_nodes
from snncc.frontend.converters import CONVERTERS, converter
from snncc.frontend import index_converters  # noqa: F401 - registers Slice, Split, Pad, Resize, Transpose, ...
from snncc.frontend.load import load_onnx, prepare
from snncc.ir import Graph


def import_onnx(path) -> Graph:
    """Load, check and convert an ONNX file to an IR graph."""
    return onnx_to_ir(load_onnx(path))


__all__ = ["CONVERTERS", "converter", "import_onnx", "load_onnx", "onnx_to_ir", "prepare", "unsupported_nodes"]
