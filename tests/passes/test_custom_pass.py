"""Users register their own passes and lowerings through the public API."""

import numpy as np
import pytest

import snncc
from snncc.errors import OptionError
from snncc.ir import Affine, ConstRef, run
from snncc.passes import GraphEdit, PassResult, parse_pipeline, register_pass


@register_pass("test-double-logits")
def double_logits(graph, ctx, factor: float = 2.0):
    """Append y = factor * logits (a toy lowering registered from outside the package)."""
    edit = GraphEdit(graph)
    out = graph.node(graph.outputs[0])
    name = edit.fresh_name("doubled")
    scale = edit.constant(f"{name}.scale", np.array(factor, np.float32))
    new = Affine(name=name, inputs=(out.name,), type=out.type, scale=ConstRef(scale))
    g = graph.with_(nodes=list(graph.nodes) + [new], outputs=[name], constants={scale: np.array(factor, np.float32)})
    return PassResult(g, True)


def test_custom_pass_runs_inside_a_compile_pipeline():
    x = np.load("models/data/digits_calib.npz")["x"][:32]
    base = snncc.compile("models/digits_mlp.onnx", calibration=x)
    custom = snncc.compile("models/digits_mlp.onnx", calibration=x,
                           pipeline=base.meta["pipeline"] + ",test-double-logits{factor=3}")
    assert custom.meta["pipeline"].endswith("test-double-logits{factor=3}")
    np.testing.assert_allclose(run(custom, x)[custom.outputs[0]], 3 * run(base, x)[base.outputs[0]], rtol=1e-5)


def test_pipeline_strings_parse_and_reject_unknown_passes():
    assert parse_pipeline("fold-bn,balance-thresholds{mode=layer,q=99.9}") == [
        ("fold-bn", {}), ("balance-thresholds", {"mode": "layer", "q": 99.9})]
    with pytest.raises(OptionError, match="unknown pass 'no-such-pass'"):
        parse_pipeline("fold-bn,no-such-pass")


def test_pipeline_format_round_trips_booleans():
    from snncc.passes import format_pipeline

    items = [("balance-thresholds", {"mode": "layer", "q": 99.9}), ("lower-rate", {"v0": "half"})]
    assert parse_pipeline(format_pipeline(items)) == items
    text = format_pipeline([("calibrate", {"check": False})])
    assert text == "calibrate{check=false}" and parse_pipeline(text) == [("calibrate", {"check": False})]
