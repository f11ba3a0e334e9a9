"""Constant folding runs only when onnxscript's folder could change the model; a data-free compile of a model
with nothing to fold imports none of the heavy modules it does not need."""

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import snncc
from snncc.frontend.constant_folding import FOLDER_OPS, may_fold
from snncc.ir import to_bytes
from snncc.pipeline import rate_pipeline

DATA_FREE = rate_pipeline().replace("calibrate,", "")

HEAVY = ("onnxscript", "onnx_ir", "sympy", "networkx", "onnxruntime", "scipy", "torch", "matplotlib", "sklearn")


def _cnn(extra=(), extra_inits=()):
    """x[1,1,8,8] -> Conv + BatchNormalization + Clip(0,6) -> Flatten -> Gemm -> y[1,10]: nothing to fold."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.asarray(a, np.float32), n) for n, a in [
        ("w1", rng.normal(0, .3, (4, 1, 3, 3))), ("g", rng.uniform(.5, 1.5, 4)), ("b", rng.normal(0, .1, 4)),
        ("m", rng.normal(0, .1, 4)), ("v", rng.uniform(.5, 1.5, 4)), ("w2", rng.normal(0, .1, (10, 256))),
        ("zero", 0), ("six", 6)]] + list(extra_inits)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"]),
             helper.make_node("Clip", ["n", "zero", "six"], ["r"]),
             *extra,
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "w2"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_the_list_covers_every_partial_evaluator_of_onnxscript():
    from onnxscript.optimizer._constant_folding import registry

    registered = {op for domain, op in registry.op_evaluators if domain in ("", "ai.onnx")}
    # Add and Abs act only on known shape values: all-constant inputs, or an output of one of FOLDER_OPS
    assert registered - {"Add", "Abs"} == FOLDER_OPS


def test_a_model_with_nothing_to_fold_is_left_to_itself(tmp_path, monkeypatch):
    model = _cnn()
    assert not may_fold(model)
    # the claim checked: onnxscript's folder finds nothing to change, and the compiled IR is the same without it
    import onnxscript.optimizer

    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    assert not onnxscript.optimizer.fold_constants(folded).modified
    onnx.save(model, str(tmp_path / "m.onnx"))
    skipped = to_bytes(snncc.compile(str(tmp_path / "m.onnx"), pipeline=DATA_FREE))
    monkeypatch.setattr("snncc.frontend.constant_folding.may_fold", lambda m: True)
    assert to_bytes(snncc.compile(str(tmp_path / "m.onnx"), pipeline=DATA_FREE)) == skipped


@pytest.mark.parametrize("case", ["identity", "all-constant", "constant-node", "subgraph"])
def test_a_model_the_folder_could_change_is_folded(case):
    one = numpy_helper.from_array(np.ones(1, np.float32), "one")
    extra, inits = {
        "identity": ([helper.make_node("Identity", ["r"], ["r2"])], []),
        "all-constant": ([helper.make_node("Mul", ["one", "one"], ["k"])], [one]),
        "constant-node": ([helper.make_node("Constant", [], ["k"], value=one),
                           helper.make_node("Neg", ["k"], ["nk"])], []),
        "subgraph": ([helper.make_node("If", ["cond"], ["k"], then_branch=helper.make_graph([], "t", [], []),
                                       else_branch=helper.make_graph([], "e", [], []))], []),
    }[case]
    assert may_fold(_cnn(extra, inits))


def test_a_data_free_compile_imports_no_heavy_module(tmp_path):
    onnx.save(_cnn(), str(tmp_path / "m.onnx"))
    script = (
        "import sys\n"
        "from snncc.cli import main\n"
        f"code = main(['compile', {str(tmp_path / 'm.onnx')!r}, '-o', {str(tmp_path / 'm.snnir')!r}])\n"
        f"print(code, sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["0", "[]"], out.stdout + out.stderr
