"""NIR interoperability: run snncc's NIR export in a real NIR consumer (nirtorch) and report how often its predictions
agree with snncc's own simulator on the bundled digits test set.

    python benchmarks/nir_interop.py                       # digits models present in models/, T=32
    python benchmarks/nir_interop.py --model models/digits_mlp.onnx -T 32 --venv /tmp/nir-venv

What it does:
1. compiles each model with `--coding rate` (default calibration), exports it with `snncc export --format nir`, and
   simulates it with snncc's simulator (what `snncc eval` runs) on models/data/digits_test.npz;
2. creates a venv of its own (`--venv`, default ~/.cache/snncc/nir-interop-venv) that sees this interpreter's
   packages and installs nirtorch into it, pinning the local CPU `torch==2.13.0` in the same pip command (without
   the pin pip would pull a multi-GB CUDA build of torch);
3. loads the .nir file with `nirtorch.nir_to_torch` (torch.fx; NIR cycles become state carried to the next step)
   with node maps for the primitives nirtorch leaves to the caller (I, Threshold, Scale), its Flatten shifted by one
   axis (NIR shapes exclude the batch: start_dim + 1), and Affine mapped with its bias (nirtorch 2.6's default map
   assigns the bias to `weight.bias`, leaving the Linear's own bias random: the row "nirtorch default Affine" shows
   what that costs);
4. runs T steps, sums the Output node over time and compares argmax with snncc's predictions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TORCH_PIN = "torch==2.13.0"
NIRTORCH_PIN = "nirtorch==2.6"

CONSUMER = r'''
import json, sys
import numpy as np
import nir, nirtorch, torch

nir_path, data_path, steps, out_path, default_affine = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"


class Integrator(torch.nn.Module):
    """NIR I: dv/dt = R I, Euler dt = 1: v(t) = v(t-1) + R I(t); output v."""
    def __init__(self, r):
        super().__init__()
        self.register_buffer("r", torch.from_numpy(np.asarray(r, np.float32)))
    def forward(self, x, state=None):
        v = self.r * x if state is None else state + self.r * x
        return v, v


class Threshold(torch.nn.Module):
    """NIR Threshold: z = 1 where v > threshold."""
    def __init__(self, threshold):
        super().__init__()
        self.register_buffer("threshold", torch.from_numpy(np.asarray(threshold, np.float32)))
    def forward(self, x):
        return (x > self.threshold).to(x.dtype)


class Scale(torch.nn.Module):
    """NIR Scale: y = x * s."""
    def __init__(self, scale):
        super().__init__()
        self.register_buffer("scale", torch.from_numpy(np.asarray(scale, np.float32)))
    def forward(self, x):
        return x * self.scale


def affine(node):
    layer = torch.nn.Linear(node.weight.shape[-1], node.weight.shape[-2], bias=True)
    layer.weight.data = torch.from_numpy(np.asarray(node.weight, np.float32))
    layer.bias.data = torch.from_numpy(np.asarray(node.bias, np.float32))
    return layer


def flatten(node):
    # NIR shapes exclude the batch axis; torch's include it
    end = node.end_dim if node.end_dim < 0 else node.end_dim + 1
    return torch.nn.Flatten(start_dim=node.start_dim + 1, end_dim=end)


node_map = {nir.I: lambda n: Integrator(n.r), nir.Threshold: lambda n: Threshold(n.threshold),
            nir.Scale: lambda n: Scale(n.scale), nir.Flatten: flatten}
if not default_affine:
    node_map[nir.Affine] = affine
torch.manual_seed(0)
module = nirtorch.nir_to_torch(nir.read(nir_path), node_map)
x = torch.from_numpy(np.load(data_path)["x"].astype(np.float32))
with torch.no_grad():
    state, total = None, None
    for _ in range(steps):
        out, state = module(x, state)
        total = out.double() if total is None else total + out.double()
np.save(out_path, (total / steps).numpy())
print(json.dumps({"torch": torch.__version__, "nirtorch": getattr(nirtorch, "__version__", "?"),
                  "nir": nir.version}))
'''


def ensure_venv(venv: Path) -> Path:
    """A venv that sees this interpreter's packages (numpy, nir, h5py, the local CPU torch) plus nirtorch."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import nirtorch, torch"], capture_output=True)
    if probe.returncode != 0:
        # torch pinned in the same command, so pip keeps the local CPU build instead of fetching a CUDA one
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", NIRTORCH_PIN, TORCH_PIN], check=True)
    return python


def run_consumer(python: Path, nir_path: Path, data_path: Path, steps: int, default_affine: bool,
                 folder: Path) -> tuple[np.ndarray, dict, float]:
    script = folder / "consumer.py"
    script.write_text(CONSUMER)
    out = folder / ("default.npy" if default_affine else "fixed.npy")
    start = time.perf_counter()
    done = subprocess.run([str(python), str(script), str(nir_path), str(data_path), str(steps), str(out),
                           "1" if default_affine else "0"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"nirtorch consumer failed:\n{done.stderr[-4000:]}")
    return np.load(out), json.loads(done.stdout.strip().splitlines()[-1]), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=None,
                        help="ONNX model (repeatable); default: the digits models in models/ that rate coding and "
                             "NIR can express")
    parser.add_argument("--data", default=str(ROOT / "models/data/digits_test.npz"))
    parser.add_argument("-T", "--timesteps", type=int, default=32)
    parser.add_argument("--venv", default=str(Path.home() / ".cache/snncc/nir-interop-venv"))
    args = parser.parse_args(argv)

    import snncc
    from snncc.backends.nir_export import NirExportError, export_nir
    from snncc.backends.simulator import simulate
    from snncc.data import load_npz
    from snncc.errors import SnnccError

    os.chdir(ROOT)
    models = args.model or [str(p.relative_to(ROOT)) for p in sorted((ROOT / "models").glob("digits_*.onnx"))]
    data = np.load(args.data)
    x, y = data["x"], data["y"]
    python = ensure_venv(Path(args.venv))
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.savez(folder / "data.npz", x=x)
        for model in models:
            name = Path(model).stem
            try:
                calib = snncc.default_calibration_file(model)
                graph = snncc.compile(model, "rate", timesteps=args.timesteps,
                                      calibration=load_npz(calib).x if calib else None)
                nir_path = folder / f"{name}.nir"
                export_nir(graph, nir_path)
            except (NirExportError, SnnccError) as exc:
                notes.append(f"{name}: not exported: {str(exc).splitlines()[0]}")
                continue
            ours = simulate(graph, x, args.timesteps)
            ours_pred, ours_out = ours.predictions[args.timesteps], ours.outputs[args.timesteps]
            for default_affine in (False, True):
                theirs, versions, seconds = run_consumer(python, nir_path, folder / "data.npz", args.timesteps,
                                                         default_affine, folder)
                pred = theirs.argmax(-1)
                disagree = np.flatnonzero(pred != ours_pred)
                rows.append((name, "nirtorch default Affine" if default_affine else "nirtorch + node maps",
                             float(np.mean(pred == ours_pred)), len(disagree), float(np.abs(theirs - ours_out).max()),
                             float(np.mean(pred == y)), float(np.mean(ours_pred == y)), seconds))
                if not default_affine and len(disagree):
                    notes.append(f"{name}: disagreeing samples {disagree[:20].tolist()}")
    print(f"NIR consumer: {versions}  data: {args.data} ({len(x)} samples)  T={args.timesteps}")
    width = max([len("model")] + [len(r[0]) for r in rows])
    print(f"{'model':{width}} {'consumer':26} {'agree %':>8} {'#diff':>6} {'max|dlogit|':>12} {'NIR acc %':>10} "
          f"{'snncc acc %':>11} {'consumer s':>10}")
    for name, consumer, agree, ndiff, dmax, acc, our_acc, sec in rows:
        print(f"{name:{width}} {consumer:26} {100 * agree:8.2f} {ndiff:6d} {dmax:12.3g} {100 * acc:10.2f} "
              f"{100 * our_acc:11.2f} {sec:10.1f}")
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
