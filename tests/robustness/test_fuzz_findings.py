"""Findings of the hand runs of the fuzzers (`python -m tests.fuzz --minutes 4 --seed 200`), kept as regression
cases: each was an exit 3 (an internal error) and is now one clear message with exit 2."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import snncc
from snncc.errors import SnnccError
from tests.helpers import make_model
from tests.robustness.util import assert_clean_failure, run_cli, save_model


def _conv_model(bias: np.ndarray):
    rng = np.random.default_rng(0)
    inits = {"w": rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "b": bias,
             "w2": rng.standard_normal((2, 4 * 4 * 4)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w2"], ["y"], name="fc", transB=1)]
    return make_model(nodes, [1, 8, 8], [2], inits)


def _calib(n: int = 16) -> np.ndarray:
    return np.abs(np.random.default_rng(1).standard_normal((n, 1, 8, 8))).astype(np.float32)


@pytest.mark.parametrize("coding", ["signed", "bits"])
def test_a_conv_bias_with_the_wrong_number_of_values(tmp_path, capsys, coding):
    """A mutated mnist_cnn with a (32, 16, 3, 3) bias on a 32-channel conv: the codings whose pipelines do not run
    onnxruntime first reached the interpreter, which failed to broadcast it (exit 3)."""
    save_model(_conv_model(np.zeros((4, 1, 3, 3), np.float32)), tmp_path / "m.onnx")
    np.savez(tmp_path / "c.npz", x=_calib())
    code, _, err = run_cli(capsys, "compile", tmp_path / "m.onnx", "--coding", coding, "--calib", tmp_path / "c.npz",
                           "-T", "4", "-o", tmp_path / "o.snnir", "--no-progress")
    assert_clean_failure(code, err, "conv bias of shape [4, 1, 3, 3]", "4 output channels")
    assert not (tmp_path / "o.snnir").exists()


def test_a_pass_option_the_pass_does_not_take_in_a_precondition(tmp_path):
    """`maxpool-to-relu-tree{bogus=1}`: the pre-flight check ran the pass with the option and its TypeError escaped
    (exit 3); the pass manager now names the option when the pipeline runs."""
    model = save_model(_conv_model(np.zeros(4, np.float32)), tmp_path / "m.onnx")
    pipeline = "fold-bn,calibrate,balance-thresholds,maxpool-to-relu-tree{bogus=1},lower-rate,fold-out-scale"
    with pytest.raises(SnnccError, match="maxpool-to-relu-tree.*bogus"):
        snncc.compile(model, calibration=_calib(), timesteps=4, pipeline=pipeline)
