"""Unused initializers never reach onnxruntime: it logs one warning line per unused initializer (200,000 of them,
a 4 MB model, took 476 s to compile)."""
import numpy as np
import onnx
from onnx import TensorProto, helper

from snncc.frontend import load


def _model_with_unused(n: int, path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32))
    unused = [helper.make_tensor(f"u{i}", TensorProto.FLOAT, [1], [float(i)]) for i in range(n)]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])], [w, *unused])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_onnxruntime_gets_only_the_initializers_the_graph_reads(tmp_path, monkeypatch):
    import onnxruntime as ort

    path = tmp_path / "m.onnx"
    _model_with_unused(2000, path)
    seen = []
    real = ort.InferenceSession

    def session(payload, *args, **kwargs):
        seen.append(onnx.load_from_string(payload))
        return real(payload, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", session)
    y = load.run_onnxruntime(path, np.ones((2, 4), np.float32))
    np.testing.assert_allclose(y, np.full((2, 3), 4.0))
    assert [t.name for t in seen[0].graph.initializer] == ["w"]
