"""`snncc check` on real architectures from the onnx wheel's backend tests (opset 9, weights as ConstantOfShape):
ResNet-50 joins residuals with Sum, SqueezeNet pools channel concats, AlexNet normalises with LRN."""

from __future__ import annotations

from pathlib import Path

import onnx

from snncc.check import BLOCKED, check_model
from snncc.pipeline import CODINGS

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def test_resnet50_with_sum_works_in_every_coding():
    report = check_model(LIGHT / "light_resnet50.onnx")
    assert report.working() == list(CODINGS)


def test_squeezenet_pools_each_fire_branch_so_every_coding_works():
    assert check_model(LIGHT / "light_squeezenet.onnx").working() == list(CODINGS)


def test_alexnet_is_refused_for_its_lrn_with_why():
    report = check_model(LIGHT / "light_bvlc_alexnet.onnx", ["rate", "amos"])
    for verdict in report.verdicts:
        assert verdict.status == BLOCKED and {b.op for b in verdict.blockers} == {"LRN"}
        assert all("local response normalisation" in b.why for b in verdict.blockers)
        assert "without LRN" in verdict.suggestion
