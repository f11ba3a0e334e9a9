"""`snncc export --format onnx-step`: the written step model passes onnx.checker and runs in a bare onnxruntime
session (a subprocess that imports nothing of snncc) to the NumPy simulator's decoded outputs."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from snncc.backends.simulator import simulate
from snncc.cli import main
from snncc.ir.serialize import save
from tests.onnx_step.compiled import compiled, data

# Drives an exported step model with onnxruntime alone: step 1 feeds only the input frame (the states' defaults are
# their initial values), later steps feed `<state>.next` back; prints the decoded output as JSON.
BARE_RUNNER = r"""
import json, sys
import numpy as np
import onnxruntime as ort

model_path, x_path, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
frames, states = json.loads(meta["snncc.frames"]), json.loads(meta["snncc.states"])
readouts = json.loads(meta["snncc.readouts"])
x = np.load(x_path)
feed = {frames[0]: x}
names = [o.name for o in session.get_outputs()]
for t in range(steps if meta["snncc.schedule"] == "concurrent" else 1):
    out = dict(zip(names, session.run(None, feed)))
    feed = {frames[0]: x, **{s: out[s + ".next"] for s in states}}
(output,) = readouts
if meta["snncc.schedule"] == "concurrent":
    decoded = out[output + ".sum.next"] / np.float32(steps)
else:
    decoded = out[readouts[output]]
print(json.dumps({"decoded": decoded.tolist(), "sys_modules_snncc": [m for m in sys.modules if m.split(".")[0] == "snncc"]}))
"""


@pytest.mark.parametrize("model, coding", [("digits_cnn", "rate"), ("digits_resnet", "signed"),
                                           ("digits_cnn", "phase"), ("digits_mlp", "amos"), ("digits_cnn", "bits"),
                                           ("digits_cnn", "ttfs")])
def test_exported_step_model_runs_in_a_bare_session(tmp_path, model, coding):
    graph = compiled(model, coding)
    save(graph, tmp_path / "m.snnir")
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "m.snnir"), "--format", "onnx-step", "-o", str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    x = data(model)[:5]
    np.save(tmp_path / "x.npy", x)
    runner = tmp_path / "bare.py"
    runner.write_text(BARE_RUNNER)
    done = subprocess.run([sys.executable, "-I", str(runner), str(out), str(tmp_path / "x.npy"), "6"],
                          capture_output=True, text=True, cwd=tmp_path, check=True)
    result = json.loads(done.stdout)
    assert result["sys_modules_snncc"] == []
    ref = simulate(graph, x, 6, synaptic_path="dense")
    decoded = np.asarray(result["decoded"], np.float32)
    np.testing.assert_array_equal(decoded.argmax(-1), ref.predictions[6])
    np.testing.assert_allclose(decoded, ref.outputs[6], rtol=1e-5, atol=1e-5)


def test_export_refuses_a_hashed_text_ir(tmp_path, capsys):
    from snncc.ir import to_text

    (tmp_path / "m.txt").write_text(to_text(compiled("digits_mlp", "rate")))
    assert main(["export", str(tmp_path / "m.txt"), "--format", "onnx-step", "-o", str(tmp_path / "m.onnx")]) == 2
    assert "hashed tensors" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
