"""Mutations of .onnx and .snnir files, driven by a hypothesis `draw`: raw byte edits (bit flips, truncation,
splices) and structured edits through the protobuf API (fields set to hostile values, nodes dropped, duplicated or
rewired, dims made huge, zero or negative, external data pointed outside the folder)."""

from __future__ import annotations

import re
from typing import Callable

import onnx
from google.protobuf.message import DecodeError
from hypothesis import strategies as st

from snncc.ir import snnir_pb2

HOSTILE_INTS = [0, 1, -1, 2, 3, 7, 255, 1 << 16, 1 << 31, (1 << 31) - 1, 1 << 40, -(1 << 40), (1 << 63) - 1]
HOSTILE_FLOATS = [0.0, -0.0, 1e-45, -1.0, 1e38, float("nan"), float("inf"), float("-inf")]
HOSTILE_NAMES = ["", "x", "ghost", "a" * 300, "../../etc/passwd", "%weird name", "\u00e9\u4e2d", "input", "y"]
EXTERNAL_LOCATIONS = ["../../etc/passwd", "/etc/passwd", "../outside.bin", "link_out.bin", "linkdir/outside.bin",
                      "inside.bin", "missing.bin", ".", "fifo", "C:\\w.bin", "inside.bin\x00.txt"]
ONNX_OPS = ["Relu", "Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "Add", "Mul", "Reshape", "Flatten", "Concat",
            "Sigmoid", "Softmax", "BatchNormalization", "Clip", "Identity", "Erf", "Loop", "If", "Scan",
            "ConstantOfShape", "Expand", "Tile", "Resize", "NotAnOp", ""]

Draw = Callable[[st.SearchStrategy], object]


# -- raw bytes --------------------------------------------------------------------------------------------------------

def mutate_bytes(draw: Draw, data: bytes) -> bytes:
    """One raw edit: flip bits, overwrite with boundary bytes, truncate, delete, duplicate or insert a chunk."""
    if not data:
        return bytes(draw(st.binary(max_size=64)))
    kind = draw(st.sampled_from(["flip", "set", "truncate", "delete", "duplicate", "insert"]))
    buf = bytearray(data)
    n = len(buf)
    pos = draw(st.integers(0, n - 1))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            p = draw(st.integers(0, n - 1))
            buf[p] ^= 1 << draw(st.integers(0, 7))
    elif kind == "set":
        buf[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01, 0x08, 0x12, 0x1A]))
    elif kind == "truncate":
        del buf[pos:]
    elif kind == "delete":
        del buf[pos:pos + draw(st.integers(1, 64))]
    elif kind == "duplicate":
        chunk = buf[pos:pos + draw(st.integers(1, 256))]
        buf[pos:pos] = chunk
    else:
        buf[pos:pos] = draw(st.binary(min_size=1, max_size=32))
    return bytes(buf)


# -- ONNX through the protobuf API ------------------------------------------------------------------------------------

def _pick(draw: Draw, seq):
    return seq[draw(st.integers(0, len(seq) - 1))] if len(seq) else None


def _onnx_value_names(model: onnx.ModelProto) -> list[str]:
    names = [v.name for v in model.graph.input] + [i.name for i in model.graph.initializer]
    names += [o for n in model.graph.node for o in n.output]
    return names or ["x"]


def mutate_onnx(draw: Draw, data: bytes) -> bytes:
    """One structured edit of an ONNX model; falls back to a byte edit when the data does not parse."""
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        return mutate_bytes(draw, data)
    g = model.graph
    kind = draw(st.sampled_from([
        "op_type", "rewire", "drop_node", "dup_node", "attr_int", "attr_ints", "attr_float", "drop_attr",
        "init_dims", "init_dtype", "init_data", "init_external", "input_dims", "input_dtype", "opset", "ir_version",
        "output_name", "drop_input", "domain"]))
    node = _pick(draw, g.node)
    init = _pick(draw, g.initializer)
    if kind == "op_type" and node is not None:
        node.op_type = draw(st.sampled_from(ONNX_OPS))
    elif kind == "rewire" and node is not None and len(node.input):
        i = draw(st.integers(0, len(node.input) - 1))
        node.input[i] = draw(st.sampled_from(_onnx_value_names(model) + HOSTILE_NAMES))
    elif kind == "drop_node" and node is not None:
        g.node.remove(node)
    elif kind == "dup_node" and node is not None:
        g.node.insert(draw(st.integers(0, len(g.node))), node)
    elif kind in ("attr_int", "attr_ints", "attr_float", "drop_attr") and node is not None and len(node.attribute):
        a = _pick(draw, node.attribute)
        if kind == "attr_int":
            a.i = draw(st.sampled_from(HOSTILE_INTS))
        elif kind == "attr_ints":
            del a.ints[:]
            a.ints.extend(draw(st.lists(st.sampled_from(HOSTILE_INTS), max_size=6)))
        elif kind == "attr_float":
            a.f = draw(st.sampled_from(HOSTILE_FLOATS))
        else:
            node.attribute.remove(a)
    elif kind == "init_dims" and init is not None:
        del init.dims[:]
        init.dims.extend(draw(st.lists(st.sampled_from(HOSTILE_INTS), max_size=5)))
    elif kind == "init_dtype" and init is not None:
        init.data_type = draw(st.integers(0, 25))
    elif kind == "init_data" and init is not None:
        raw = init.raw_data
        choice = draw(st.sampled_from(["cut", "nan", "clear"]))
        if choice == "cut":
            init.raw_data = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
        elif choice == "nan" and len(raw) >= 4:
            p = draw(st.integers(0, len(raw) // 4 - 1)) * 4
            init.raw_data = raw[:p] + b"\x00\x00\xc0\x7f" + raw[p + 4:]
        else:
            init.ClearField("raw_data")
    elif kind == "init_external" and init is not None:
        init.ClearField("raw_data")
        del init.float_data[:]
        init.data_location = onnx.TensorProto.EXTERNAL
        del init.external_data[:]
        init.external_data.add(key="location", value=draw(st.sampled_from(EXTERNAL_LOCATIONS)))
        if draw(st.booleans()):
            init.external_data.add(key="offset", value=str(draw(st.sampled_from(HOSTILE_INTS))))
        if draw(st.booleans()):
            init.external_data.add(key="length", value=draw(st.sampled_from(["0", "16", "48", "-5", "x", "1e9"])))
    elif kind == "input_dims" and len(g.input):
        dims = g.input[0].type.tensor_type.shape.dim
        if len(dims):
            d = _pick(draw, dims)
            if draw(st.booleans()):
                d.dim_value = draw(st.sampled_from(HOSTILE_INTS))
            else:
                d.dim_param = draw(st.sampled_from(["N", "", "features"]))
    elif kind == "input_dtype" and len(g.input):
        g.input[0].type.tensor_type.elem_type = draw(st.integers(0, 25))
    elif kind == "opset" and len(model.opset_import):
        model.opset_import[0].version = draw(st.sampled_from([1, 6, 9, 11, 12, 13, 17, 21, 25, 99, -1]))
    elif kind == "ir_version":
        model.ir_version = draw(st.sampled_from([0, 1, 3, 7, 8, 10, 99, -1]))
    elif kind == "output_name" and len(g.output):
        g.output[0].name = draw(st.sampled_from(_onnx_value_names(model) + HOSTILE_NAMES))
    elif kind == "drop_input" and len(g.input):
        del g.input[0]
    elif kind == "domain" and node is not None:
        node.domain = draw(st.sampled_from(["", "ai.onnx", "com.microsoft", "evil.domain"]))
    else:
        return mutate_bytes(draw, data)
    return model.SerializeToString()


# -- .snnir through the protobuf API ----------------------------------------------------------------------------------

def mutate_snnir(draw: Draw, data: bytes, op_names: list[str]) -> bytes:
    """One structured edit of a .snnir file; falls back to a byte edit when the data does not parse."""
    msg = snnir_pb2.Graph()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        return mutate_bytes(draw, data)
    kind = draw(st.sampled_from(["version", "op", "rewire", "shape", "dtype", "attr", "const_dims", "const_dtype",
                                 "const_data", "outputs", "drop_node", "dup_node", "meta", "const_name"]))
    node = _pick(draw, msg.nodes)
    const = _pick(draw, msg.constants)
    names = [n.name for n in msg.nodes] + HOSTILE_NAMES
    if kind == "version":
        msg.format_major = draw(st.sampled_from([0, 1, 2, 99, (1 << 32) - 1]))
        msg.format_minor = draw(st.sampled_from([0, 1, 99]))
    elif kind == "op" and node is not None:
        node.op = draw(st.sampled_from(op_names + ["", "nope"]))
    elif kind == "rewire" and node is not None and len(node.inputs):
        node.inputs[draw(st.integers(0, len(node.inputs) - 1))] = draw(st.sampled_from(names))
    elif kind == "shape" and node is not None:
        del node.type.shape[:]
        node.type.shape.extend(draw(st.lists(st.sampled_from([0, 1, 2, 3, 8, 1 << 20, (1 << 63) - 1]), max_size=4)))
    elif kind == "dtype" and node is not None:
        node.type.dtype = draw(st.sampled_from(["f32", "f64", "i64", "bool", "c64", ""]))
    elif kind == "attr" and node is not None and len(node.attributes):
        a = _pick(draw, node.attributes)
        which = draw(st.sampled_from(["int", "float", "string", "ints", "floats", "none", "const_ref", "bool"]))
        if which == "int":
            a.int_value = draw(st.sampled_from(HOSTILE_INTS))
        elif which == "float":
            a.float_value = draw(st.sampled_from(HOSTILE_FLOATS))
        elif which == "string":
            a.string_value = draw(st.sampled_from(HOSTILE_NAMES))
        elif which == "ints":
            a.ints.SetInParent()
            del a.ints.values[:]
            a.ints.values.extend(draw(st.lists(st.sampled_from(HOSTILE_INTS), max_size=5)))
        elif which == "floats":
            a.floats.SetInParent()
            del a.floats.values[:]
            a.floats.values.extend(draw(st.lists(st.sampled_from(HOSTILE_FLOATS), max_size=5)))
        elif which == "none":
            a.none = True
        elif which == "bool":
            a.bool_value = draw(st.booleans())
        else:
            a.const_ref = draw(st.sampled_from([c.name for c in msg.constants] + HOSTILE_NAMES))
    elif kind == "const_dims" and const is not None:
        del const.shape[:]
        const.shape.extend(draw(st.lists(st.sampled_from([0, 1, 2, 3, 1 << 32, (1 << 63) - 1]), max_size=4)))
    elif kind == "const_dtype" and const is not None:
        const.dtype = draw(st.sampled_from(["f32", "f64", "i64", "i32", "bool", "f16", ""]))
    elif kind == "const_data" and const is not None:
        raw = const.data
        if draw(st.booleans()) or len(raw) < 4:
            const.data = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
        else:
            p = draw(st.integers(0, len(raw) // 4 - 1)) * 4
            special = draw(st.sampled_from([b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f", b"\xff\xff\xff\xff"]))
            const.data = raw[:p] + special + raw[p + 4:]
    elif kind == "outputs":
        del msg.outputs[:]
        msg.outputs.extend(draw(st.lists(st.sampled_from(names), max_size=2)))
    elif kind == "drop_node" and node is not None:
        msg.nodes.remove(node)
    elif kind == "dup_node" and node is not None:
        msg.nodes.insert(draw(st.integers(0, len(msg.nodes))), node)
    elif kind == "meta":
        msg.meta.add(key=draw(st.sampled_from(["timesteps", "coding", "source", "schedule", "x"])),
                     value=draw(st.sampled_from(["-1", "0", "abc", "1e9", "100000000000", "65537", "../../etc/passwd",
                                                 "/dev/zero", "windowed"])))
    elif kind == "const_name" and const is not None:
        const.name = draw(st.sampled_from(names))
    else:
        return mutate_bytes(draw, data)
    return msg.SerializeToString(deterministic=True)


# -- the text form, line by line --------------------------------------------------------------------------------------

ATTRIBUTE_VALUES = ['"abc"', "1", "0", "-1", "none", "@ghost", "[1,2]", "[]", "[0.5]", "true", "1e400", "nan", "2.5",
                    "99999999999999999999"]
TEXT_TOKENS = ["nan", "inf", "-inf", "1e400", "-0", "0", "99999999999999999999", "@ghost", "%ghost", "none", "true",
               "[", "]", "{", "}", '"', "\\", ",", "=", ":", "f32[1000000,1000000]", "i64[3]", "sha256:00"]


def mutate_text(draw: Draw, data: bytes) -> bytes:
    """One edit of the text form: drop, duplicate or swap lines, or replace a token inside a line."""
    lines = data.split(b"\n")
    if len(lines) < 2:
        return mutate_bytes(draw, data)
    kind = draw(st.sampled_from(["drop", "duplicate", "swap", "token", "attribute", "bytes"]))
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "attribute":   # a node's attribute value replaced by one of another type or range
        node_lines = [j for j, line in enumerate(lines) if line.startswith(b"%") and b"{" in line]
        if node_lines:
            i = node_lines[draw(st.integers(0, len(node_lines) - 1))]
            values = list(re.finditer(rb"(?<=[{ ])([a-z_0-9]+)=([^,}]+)", lines[i]))
            if values:
                m = values[draw(st.integers(0, len(values) - 1))]
                new = draw(st.sampled_from(ATTRIBUTE_VALUES)).encode()
                lines[i] = lines[i][:m.start(2)] + new + lines[i][m.end(2):]
                return b"\n".join(lines)
    if kind == "drop":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "token":
        words = lines[i].split(b" ")
        k = draw(st.integers(0, len(words) - 1))
        words[k] = draw(st.sampled_from(TEXT_TOKENS)).encode()
        lines[i] = b" ".join(words)
    else:
        return mutate_bytes(draw, data)
    return b"\n".join(lines)


# -- pipeline strings (compile --pipeline) ----------------------------------------------------------------------------

OPTION_VALUES = ["0", "-1", "1", "2", "7", "1000000", "0.5", "nan", "inf", "-inf", "abc", "true", "", "1e9", "half",
                 "zero", "channel", "layer", "max", "percentile"]


def pipeline_string(draw: Draw) -> str:
    """One to four registered passes, each maybe with one option set to a hostile value; sometimes broken syntax."""
    import inspect

    from snncc.passes import PASS_REGISTRY

    names = sorted(PASS_REGISTRY)
    items = []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(names + ["nope"]))
        params = list(inspect.signature(PASS_REGISTRY[name].fn).parameters)[2:] if name in PASS_REGISTRY else []
        if params and draw(st.booleans()):
            key = draw(st.sampled_from(params + ["bogus"]))
            name += "{" + key + "=" + draw(st.sampled_from(OPTION_VALUES)) + "}"
        items.append(name)
    text = ",".join(items)
    if draw(st.integers(0, 9)) == 0:
        text = mutate_bytes(draw, text.encode()).decode("utf-8", "replace")
    return text
