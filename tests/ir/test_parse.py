"""The text form parses back: text -> parse -> text is byte-identical, and the full-precision text round-trips the
binary exactly; checked on hand-made graphs, on a compiled model and by a property test on random small graphs."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snncc
from snncc.cli import main
from snncc.ir import (Add, Clip, ConstRef, Dense, Graph, IFNeuron, Input, Reshape, TensorType, from_bytes, to_bytes,
                      to_text)
from snncc.ir.diff import diff
from snncc.ir.parse import ParseError, has_summaries, load_any, parse
from snncc.ir.text import INLINE_LIMIT, TensorSummary


def small_graph(big: bool = True) -> Graph:
    rng = np.random.default_rng(1)
    f = 20 if big else 3
    consts = {"w": rng.standard_normal((3, f)).astype(np.float32),
              "b": np.array([0.1, -2.5e-08, 3.0], np.float32),
              "theta": np.array([0.5, 1.0, 2.0], np.float32)}
    nodes = [Input(name="x", type=TensorType((f,))),
             Dense(name="fc.1", inputs=("x",), type=TensorType((3,)), weight=ConstRef("w"), bias=ConstRef("b")),
             Clip(name="clip", inputs=("fc.1",), type=TensorType((3,)), lo=float("-inf"), hi=6.0),
             IFNeuron(name="if", inputs=("clip",), type=TensorType((3,)), theta=ConstRef("theta"), v0=0.5),
             Add(name="sum", inputs=("if", "fc.1"), type=TensorType((3,)), coeffs=(1.0, -0.25))]
    meta = {"coding": "rate", "pipeline": "fold-bn,lower-rate{v0=half}", "note": 'quotes " and \\ and ünïcode'}
    return Graph.build(nodes, ("sum", "if"), consts, meta)


def test_text_parses_back_byte_for_byte():
    g = small_graph()
    text = to_text(g)
    back = parse(text)
    assert to_text(back) == text
    assert back.nodes == g.nodes and back.outputs == g.outputs and dict(back.meta) == dict(g.meta)
    # the 3x20 weight is printed hashed: it comes back as a summary, the small tensors as exact arrays
    assert has_summaries(back) == ["w"] and isinstance(back.constants["w"], TensorSummary)
    assert back.constants["b"].tobytes() == g.constants["b"].tobytes()


def test_full_text_round_trips_the_binary_exactly():
    g = small_graph()
    full = to_text(g, full=True)
    assert "sha256:" not in full
    back = parse(full)
    assert not has_summaries(back)
    assert to_bytes(back) == to_bytes(g)
    assert to_text(back, full=True) == full
    # the default (hashed) form is unchanged by the new mode
    assert to_text(back) == to_text(g)


def test_compiled_model_binary_text_binary_is_exact(tmp_path):
    x = np.load("models/data/digits_calib.npz")["x"]
    g = snncc.compile("models/digits_mlp.onnx", calibration=x)
    full = to_text(g, full=True)
    assert to_bytes(parse(full)) == to_bytes(g)
    text = to_text(g)
    assert to_text(parse(text)) == text
    path = tmp_path / "m.txt"
    path.write_text(full)
    assert to_bytes(load_any(path)) == to_bytes(g)


@pytest.mark.parametrize("text, where", [
    ("hello\n", "line 1"),
    ("snnir 9.0\n\nreturn %x\n", "line 1: text IR version 9.0"),
    ("snnir 1.0\ncoding rate\n\nreturn %x\n", "line 2: expected a header line"),
    ("snnir 1.0\n\n%x = nonsense : f32[2]\nreturn %x\n", "line 3: node %x has op 'nonsense'"),
    ("snnir 1.0\n\n%x = input {bogus=1} : f32[2]\nreturn %x\n", "line 3: node %x \\(input\\) has unknown attribute"),
    ("snnir 1.0\n\n%x = input : f32[2\nreturn %x\n", "line 3: 'f32\\[2' is not a tensor type"),
    ("snnir 1.0\n\n%x = input : f32[2]\n", "no 'return' line"),
    ("snnir 1.0\n\n%x = input : f32[2]\nreturn %y\n", "return names %y"),
    ("snnir 1.0\n\n%x = input : f32[2]\n%d = dense %x {weight=@w} : f32[1]\nreturn %d\n",
     "constants referenced but not defined: @w"),
    ("snnir 1.0\n\n%x = input : f32[2]\n%d = dense %x {weight=@w} : f32[1]\nreturn %d\n\n@w = f32[1,2] [1.0]\n",
     "line 7: constant @w is f32\\[1,2\\] \\(2 elements\\) but lists 1 values"),
    ("snnir 1.0\n\n%x = input : f32[2]\n%d = dense %x {weight=@w} : f32[1]\nreturn %d\n\n@w = f32[1,2] [1.0,zz]\n",
     "line 7: constant @w"),
    ("snnir 1.0\n\n%x = clip %x {lo=oops} : f32[2]\nreturn %x\n", "line 3: 'oops' is not a value"),
])
def test_malformed_text_is_a_parse_error_naming_the_line(text, where):
    with pytest.raises(ParseError, match=where):
        parse(text)


def test_cli_reports_unparseable_text_as_a_user_error(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("snnir 1.0\n\n%x = nonsense : f32[2]\nreturn %x\n")
    good = tmp_path / "good.txt"
    good.write_text(to_text(small_graph()))
    assert main(["diff", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.txt: line 3" in err and "nonsense" in err


# -- property test: random small graphs ------------------------------------------------------------------------

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.", min_size=1,
                max_size=8).filter(lambda s: s[0].isalpha())
FINITE_F32 = st.integers(0, 2**32 - 1).map(lambda b: np.array([b], np.uint32).view(np.float32)[0]).filter(
    lambda v: not np.isnan(v))
FLOAT_ATTR = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64),
                       st.sampled_from([0.0, -0.0, 1e-300, 5e-324]))
BOUND_ATTR = st.one_of(FLOAT_ATTR, st.sampled_from([float("inf"), float("-inf")]))   # clip bounds may be absent


def _tensor(draw, shape):
    n = int(np.prod(shape)) if shape else 1
    values = draw(st.lists(FINITE_F32, min_size=n, max_size=n))
    return np.array(values, np.float32).reshape(shape)


@st.composite
def random_graphs(draw):
    names = iter(draw(st.lists(NAMES, min_size=12, max_size=12, unique=True)))
    width = draw(st.integers(1, 6))
    nodes = [Input(name=next(names), type=TensorType((width,)))]
    consts = {}
    values = [(nodes[0].name, width)]
    for _ in range(draw(st.integers(1, 6))):
        src, f = draw(st.sampled_from(values))
        kind = draw(st.sampled_from(["dense", "if", "clip", "add", "reshape"]))
        name = next(names)
        if kind == "dense":
            out = draw(st.integers(1, 5))
            w = f"{name}.w"
            consts[w] = _tensor(draw, (out, f)) if draw(st.booleans()) else \
                np.arange(out * f, dtype=np.float32).reshape(out, f) / 7   # some tensors above INLINE_LIMIT
            bias = None
            if draw(st.booleans()):
                bias = f"{name}.b"
                consts[bias] = _tensor(draw, (out,))
            node = Dense(name=name, inputs=(src,), type=TensorType((out,)), weight=ConstRef(w),
                         bias=None if bias is None else ConstRef(bias))
            f = out
        elif kind == "if":
            theta = f"{name}.theta"
            magnitude = np.abs(_tensor(draw, draw(st.sampled_from([(), (f,)]))))
            consts[theta] = np.where(magnitude > 0, magnitude, np.float32(1))   # verify: thresholds are positive
            node = IFNeuron(name=name, inputs=(src,), type=TensorType((f,)), theta=ConstRef(theta),
                            v0=draw(FLOAT_ATTR), out_scale=ConstRef(theta) if draw(st.booleans()) else None)
        elif kind == "clip":
            node = Clip(name=name, inputs=(src,), type=TensorType((f,)), lo=draw(BOUND_ATTR), hi=draw(BOUND_ATTR))
        elif kind == "add":
            other = draw(st.sampled_from([v for v, g in values if g == f]))
            node = Add(name=name, inputs=(src, other), type=TensorType((f,)),
                       coeffs=(draw(FLOAT_ATTR), draw(FLOAT_ATTR)))
        else:
            node = Reshape(name=name, inputs=(src,), type=TensorType((1, f)), shape=(1, f))
            nodes.append(node)
            continue  # a (1, f) value is not fed to the vector ops above
        nodes.append(node)
        values.append((name, f))
    meta = draw(st.dictionaries(st.sampled_from(["coding", "pipeline", "source", "timesteps", "zz", "note"]),
                                st.text(max_size=12), max_size=4))
    outputs = tuple(draw(st.lists(st.sampled_from([n.name for n in nodes]), min_size=1, max_size=2, unique=True)))
    return Graph.build(nodes, outputs, consts, meta)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_property_text_and_binary_round_trips(graph):
    text = to_text(graph)
    assert to_text(parse(text)) == text
    full = to_text(graph, full=True)
    back = parse(full)
    assert to_bytes(back) == to_bytes(graph)
    assert to_bytes(from_bytes(to_bytes(back))) == to_bytes(graph)
    assert diff(graph, back).equal and diff(graph, parse(text)).equal
    big = [n for n, a in graph.constants.items() if a.size > INLINE_LIMIT]
    assert has_summaries(parse(text)) == sorted(big)
