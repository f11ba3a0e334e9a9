"""Issue 19 item 10: constant folding evaluates only what the outputs use, never a loop: a 1 KB model with an
unused constant Loop of 10^12 iterations hung compile (in the folder and in onnxruntime); now it compiles at once."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.robustness.util import calib, tiny_model


def _with_unused_loop():
    model = tiny_model()
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [])],
        initializer=[numpy_helper.from_array(np.array(1, np.float32), "one")])
    model.graph.initializer.extend([numpy_helper.from_array(np.array(10 ** 12, np.int64), "M"),
                                    numpy_helper.from_array(np.array(True), "c0"),
                                    numpy_helper.from_array(np.array(0, np.float32), "v0")])
    model.graph.node.append(helper.make_node("Loop", ["M", "c0", "v0"], ["never_used"], body=body))
    return model


def test_an_unused_constant_loop_is_not_run(tmp_path):
    (tmp_path / "m.onnx").write_bytes(_with_unused_loop().SerializeToString())
    assert (tmp_path / "m.onnx").stat().st_size < 1024
    np.savez(tmp_path / "c.npz", x=calib())
    # a subprocess: a hang inside onnxruntime's C++ would not yield to an alarm
    proc = subprocess.run([sys.executable, "-c", "import sys; from snncc.cli import main; sys.exit(main())",
                           "compile", "m.onnx", "--calib", "c.npz", "-o", "o.snnir", "--no-progress"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.snnir").is_file()
