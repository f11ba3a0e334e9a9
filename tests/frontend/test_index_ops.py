"""Slice, Split, Pad, Resize/Upsample, Transpose, ConvTranspose and Concat on any axis (issue 14 item 7): the IR's
ANN mode equals onnxruntime to 1e-5, and each lowers to the ops the IR already had where that is exact."""

import numpy as np
import pytest
from onnx import TensorProto, helper

from snncc.errors import UnsupportedModelError
from snncc.frontend import onnx_to_ir, prepare
from snncc.ir import from_bytes, run, to_bytes, to_text, verify
from snncc.ir.parse import parse
from tests.helpers import make_model, onnxruntime_run, rand

N = 3


def _check(model, x, atol=1e-5):
    graph = onnx_to_ir(prepare(model))
    verify(graph)
    ours = run(graph, x)[graph.outputs[0]]
    np.testing.assert_allclose(ours, onnxruntime_run(model, x), atol=atol, rtol=1e-5)
    assert to_text(from_bytes(to_bytes(graph))) == to_text(graph)     # the ops round-trip .snnir
    assert to_text(parse(to_text(graph))) == to_text(graph)           # and the text form
    return graph


def _ops(graph):
    return [n.op for n in graph.nodes if n.op != "input"]


def _i64(values):
    return np.asarray(values, np.int64)


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([1], [3], [1], [1]),                                  # channels
    ([1, 0], [7, 5], [2, 3], [2, 1]),                      # H with a step, W cropped
    ([-1], [-100], [3], [-1]),                             # W reversed
    ([0, 2, -3], [2**62, 4, 2**62], [0, 1, -1], [1, 1, 1]),  # the whole batch, negative axis
])
def test_slice(starts, ends, axes, steps):
    nodes = [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])]
    model = make_model(nodes, (4, 7, 6), None, {"s": _i64(starts), "e": _i64(ends), "a": _i64(axes),
                                                "t": _i64(steps)})
    graph = _check(model, rand(N, 4, 7, 6))
    assert set(_ops(graph)) <= {"conv", "dense"}


def test_slice_on_a_vector_and_on_the_batch_axis_is_refused():
    nodes = [helper.make_node("Slice", ["x", "s", "e"], ["y"])]
    _check(make_model(nodes, (9,), None, {"s": _i64([0, 2]), "e": _i64([2**62, 8])}), rand(N, 9))
    bad = make_model(nodes, (9,), [9], {"s": _i64([1, 0]), "e": _i64([2, 9])})
    with pytest.raises(UnsupportedModelError, match="batch axis"):
        onnx_to_ir(prepare(bad))


@pytest.mark.parametrize("axis,sizes", [(1, [1, 3]), (2, None), (-1, [2, 1, 3])])
def test_split(axis, sizes):
    parts = len(sizes) if sizes else 2
    outs = [f"s{i}" for i in range(parts)]
    inputs = ["x", "sizes"] if sizes else ["x"]
    nodes = [helper.make_node("Split", inputs, outs, axis=axis)]
    # the parts meet again in a weighted sum so that the model has one output
    shapes_equal = sizes is None
    if shapes_equal:
        nodes.append(helper.make_node("Sub", outs, ["y"]))
    else:
        nodes.append(helper.make_node("Concat", outs[::-1], ["y"], axis=axis))
    init = {"sizes": _i64(sizes)} if sizes else {}
    graph = _check(make_model(nodes, (4, 6, 6), None, init), rand(N, 4, 6, 6))
    assert {"conv", "dense"} & set(_ops(graph))


@pytest.mark.parametrize("pads", [[0, 0, 1, 2, 0, 0, 2, 1], [0, 1, 0, 0, 0, 2, 0, 0], [0, 0, -1, 1, 0, 0, 2, -2]])
def test_pad(pads):
    nodes = [helper.make_node("Pad", ["x", "p"], ["y"])]
    _check(make_model(nodes, (3, 5, 6), None, {"p": _i64(pads)}), rand(N, 3, 5, 6))


def test_pad_then_conv_is_one_padded_conv():
    nodes = [helper.make_node("Pad", ["x", "p", "v"], ["xp"]),
             helper.make_node("Conv", ["xp", "w"], ["y"], pads=[1, 0, 0, 1])]
    model = make_model(nodes, (2, 6, 6), None, {"p": _i64([0, 0, 1, 2, 0, 0, 0, 1]), "v": np.float32(0.0),
                                                "w": rand(4, 2, 3, 3)})
    graph = _check(model, rand(N, 2, 6, 6))
    assert _ops(graph) == ["conv"] and graph.nodes[-1].pads == (2, 2, 0, 2)


@pytest.mark.parametrize("mode,value", [("constant", 1.5), ("edge", None), ("reflect", None), ("wrap", None)])
def test_pad_modes_and_a_nonzero_constant(mode, value):
    inputs = ["x", "p"] + (["v"] if value is not None else [])
    init = {"p": _i64([0, 1, 2, 1, 0, 0, 1, 3])} | ({"v": np.float32(value)} if value is not None else {})
    opset = 19 if mode == "wrap" else 17
    model = make_model([helper.make_node("Pad", inputs, ["y"], mode=mode)], (2, 4, 5), None, init, opset=opset)
    graph = _check(model, rand(N, 2, 4, 5))
    assert set(_ops(graph)) <= {"conv", "dense"}


def test_pad_refuses_an_unknown_mode_and_a_reflection_wider_than_the_axis():
    init = {"p": _i64([0, 0, 4, 0, 0, 0, 0, 0])}
    model = make_model([helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")], (2, 4, 4), None, init)
    with pytest.raises(UnsupportedModelError, match="reflect padding of 4"):
        onnx_to_ir(prepare(model))


RESIZES = [
    ("nearest", "asymmetric", "floor", [1, 1, 2, 2], None),                  # PicoDet's upsampling
    ("nearest", "half_pixel", "round_prefer_floor", None, [N, 3, 9, 7]),
    ("nearest", "align_corners", "round_prefer_ceil", None, [N, 3, 7, 13]),
    ("nearest", "tf_half_pixel_for_nn", "ceil", [1, 1, 1.5, 0.5], None),
    ("linear", "half_pixel", "", [1, 1, 2, 2], None),
    ("linear", "align_corners", "", None, [N, 3, 9, 11]),
    ("linear", "asymmetric", "", [1, 1, 0.5, 3], None),
    ("linear", "pytorch_half_pixel", "", None, [N, 3, 1, 5]),
]


@pytest.mark.parametrize("mode,coordinates,nearest_mode,scales,sizes", RESIZES)
def test_resize(mode, coordinates, nearest_mode, scales, sizes):
    attrs = {"mode": mode, "coordinate_transformation_mode": coordinates}
    if nearest_mode:
        attrs["nearest_mode"] = nearest_mode
    init = {"roi": np.zeros(0, np.float32)}
    if scales is not None:
        init["scales"] = np.asarray(scales, np.float32)
        inputs = ["x", "roi", "scales"]
    else:
        init["scales"] = np.zeros(0, np.float32)
        init["sizes"] = _i64(sizes)
        inputs = ["x", "roi", "scales", "sizes"]
    out = None if scales is not None else sizes[1:]
    model = make_model([helper.make_node("Resize", inputs, ["y"], **attrs)], (3, 6, 5), out, init)
    graph = _check(model, rand(N, 3, 6, 5))
    assert set(_ops(graph)) == {"dense"}


def test_upsample_of_an_old_opset_model():
    nodes = [helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")]
    model = make_model(nodes, (2, 3, 4), [2, 6, 8], {"scales": np.asarray([1, 1, 2, 2], np.float32)}, opset=9)
    _check(model, rand(N, 2, 3, 4))


def test_resize_refuses_cubic():
    init = {"roi": np.zeros(0, np.float32), "scales": np.asarray([1, 1, 2, 2], np.float32)}
    model = make_model([helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="cubic")], (1, 4, 4), None,
                       init)
    with pytest.raises(UnsupportedModelError, match="cubic"):
        onnx_to_ir(prepare(model))


@pytest.mark.parametrize("shape,perm,op", [((4, 6), [0, 2, 1], "transpose"), ((2, 3, 4), [0, 3, 1, 2], "transpose"),
                                           ((5, 1, 1), [0, 2, 3, 1], "reshape"), ((5, 1), [0, 2, 1], "reshape")])
def test_transpose(shape, perm, op):
    graph = _check(make_model([helper.make_node("Transpose", ["x"], ["y"], perm=perm)], shape, None), rand(N, *shape))
    assert _ops(graph) == [op]


def test_transpose_of_the_batch_axis_is_refused():
    model = make_model([helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0, 2])], (4, 6), [4, 6])
    with pytest.raises(UnsupportedModelError, match="batch axis"):
        onnx_to_ir(prepare(model))


@pytest.mark.parametrize("attrs,groups", [
    ({"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}, 1),
    ({"strides": [2, 2], "pads": [1, 1, 1, 1]}, 1),                              # k4 s2 p1 (DCGAN, U-Net)
    ({"strides": [1, 2], "pads": [0, 1, 2, 0]}, 2),
    ({"dilations": [2, 2], "strides": [3, 1]}, 1),
    ({"strides": [2, 2], "output_shape": [10, 9]}, 1),
    ({"strides": [2, 2], "auto_pad": "SAME_UPPER"}, 1),
])
def test_conv_transpose(attrs, groups):
    k = 4 if attrs.get("pads") == [1, 1, 1, 1] and "output_padding" not in attrs else 3
    w = rand(4, 6 // groups, k, k, seed=1)
    nodes = [helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], group=groups, **attrs)]
    graph = _check(make_model(nodes, (4, 5, 4), None, {"w": w, "b": rand(6, seed=2)}), rand(N, 4, 5, 4))
    assert set(_ops(graph)) <= {"dense", "conv"}


@pytest.mark.parametrize("axis", [2, 3, -1])
def test_concat_on_any_axis(axis):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Concat", ["x", "r"], ["y"], axis=axis)]
    _check(make_model(nodes, (2, 3, 4), None), rand(N, 2, 3, 4))


# -- end to end through a model that uses them ----------------------------------------------------------------

def test_rate_compile_and_simulate_through_every_index_op():
    import snncc
    from snncc.backends.coremap import check_mapping, map_graph
    from snncc.backends.nir_export import NirExportError, check_exportable
    from snncc.backends.simulator import simulate
    from tests.frontend.index_ops_model import images, index_ops_model

    model = index_ops_model()
    test = images(200, seed=2)
    snn = snncc.compile(model, "rate", timesteps=128, calibration=images(200, seed=1))
    assert {"transpose", "concat", "dense"} <= {n.op for n in snn.nodes}
    ref = onnxruntime_run(model, test)
    out = simulate(snn, test, [128]).outputs[128]
    assert (out.argmax(-1) == ref.argmax(-1)).mean() >= 0.97
    assert np.abs(out - ref).max() <= 0.1 * np.abs(ref).max()
    assert check_mapping(snn, map_graph(snn, "generic").document) == []     # transpose composes as a permutation
    with pytest.raises(NirExportError, match="no Transpose"):
        check_exportable(snn)


def test_nir_export_refuses_a_conv_after_a_resize_and_says_why():
    import snncc
    from snncc.backends.nir_export import NirExportError, to_nir

    nodes = [helper.make_node("Relu", ["x"], ["r1"]), helper.make_node("Resize", ["r1", "", "up"], ["u"]),
             helper.make_node("Conv", ["u", "w", "b"], ["c"], strides=[2, 2]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["y"])]
    model = make_model(nodes, (1, 4, 4), [32], {"up": np.asarray([1, 1, 2, 2], np.float32), "w": rand(2, 1, 2, 2),
                                               "b": rand(2)})
    snn = snncc.compile(model, "rate", calibration=np.abs(rand(20, 1, 4, 4)))
    with pytest.raises(NirExportError, match="Resize/Slice/Split/Pad/ConvTranspose of an image"):
        to_nir(snn)


def test_split_into_num_outputs_of_opset_18():
    nodes = [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=3, num_outputs=3),
             helper.make_node("Concat", ["c", "a", "b"], ["y"], axis=3)]
    _check(make_model(nodes, (2, 3, 7), None, opset=18), rand(N, 2, 3, 7))
