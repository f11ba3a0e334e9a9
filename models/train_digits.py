"""Train the bundled sklearn-digits models and export them to ONNX (needs the ``train`` extra: torch).

    python models/train_digits.py                       # all bundled digits models
    python models/train_digits.py --model cnn           # one model (mlp | cnn | resnet | silu)
    python models/train_digits.py --model cnn --act qcfs --levels 2   # -> models/digits_cnn_qcfs2.onnx

Data: ``datasets.digits_splits()`` (train 1257 / test 540 / calib 256 of the training part), input (N,1,8,8) in
[0,1]. Every file is verified after export (onnx.checker, onnxruntime at batch 1 and 7 against torch) and its
accuracy on the test split is measured with onnxruntime.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import OrderedDict

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import datasets  # noqa: E402
from onnx_export import export_dynamo, export_legacy, print_summary, verify  # noqa: E402
from qcfs import make_act  # noqa: E402
from training import accuracy, fit, set_seed  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def seq(**layers: nn.Module) -> nn.Sequential:
    """nn.Sequential with named layers, so ONNX initializers get names like ``conv1.weight``/``bn1.running_mean``."""
    return nn.Sequential(OrderedDict(layers))


def mlp() -> nn.Module:
    """Flatten -> Linear(64,128) -> ReLU -> Linear(128,64) -> ReLU -> Linear(64,10)."""
    return seq(
        flatten=nn.Flatten(), fc1=nn.Linear(64, 128), relu1=nn.ReLU(), fc2=nn.Linear(128, 64), relu2=nn.ReLU(),
        fc3=nn.Linear(64, 10),
    )  # fmt: skip


def cnn(act: str = "relu", levels: int | None = None, lam: float = 2.0) -> nn.Module:
    """[Conv3x3(16)+BN+act, AvgPool2] -> [Conv3x3(32)+BN+act, AvgPool2] -> Flatten -> Linear(128,64)+act -> Linear(64,10).

    ``act`` is ``relu`` or ``qcfs`` (each activation gets its own trainable lam).
    """

    def a() -> nn.Module:
        return make_act(act, levels, lam)

    return seq(
        conv1=nn.Conv2d(1, 16, 3, padding=1), bn1=nn.BatchNorm2d(16), act1=a(), pool1=nn.AvgPool2d(2),   # 16x4x4
        conv2=nn.Conv2d(16, 32, 3, padding=1), bn2=nn.BatchNorm2d(32), act2=a(), pool2=nn.AvgPool2d(2),  # 32x2x2
        flatten=nn.Flatten(), fc1=nn.Linear(128, 64), act3=a(), fc2=nn.Linear(64, 10),
    )  # fmt: skip


class ResBlock(nn.Module):
    """relu(x + bn2(conv2(relu(bn1(conv1(x))))))  (3x3 convs, same channels, stride 1)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(h)))


def resnet(c: int = 32) -> nn.Module:
    """Stem Conv3x3(c)+BN+ReLU -> one ResBlock(c) -> GlobalAveragePool -> Flatten -> Linear(c,10)."""
    return seq(
        stem=nn.Conv2d(1, c, 3, padding=1), stem_bn=nn.BatchNorm2d(c), stem_relu=nn.ReLU(),
        block=ResBlock(c),
        gap=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(c, 10),
    )  # fmt: skip


def silu() -> nn.Module:
    """[Conv3x3(16)+BN+SiLU, AvgPool2] x2 -> Flatten -> Linear(128,64) -> Sigmoid -> Linear(64,10)."""
    return seq(
        conv1=nn.Conv2d(1, 16, 3, padding=1), bn1=nn.BatchNorm2d(16), silu1=nn.SiLU(), pool1=nn.AvgPool2d(2),
        conv2=nn.Conv2d(16, 32, 3, padding=1), bn2=nn.BatchNorm2d(32), silu2=nn.SiLU(), pool2=nn.AvgPool2d(2),
        flatten=nn.Flatten(), fc1=nn.Linear(128, 64), sigmoid=nn.Sigmoid(), fc2=nn.Linear(64, 10),
    )  # fmt: skip


# name -> (builder, epochs, lr, max random shift in pixels)
RECIPES = {
    "mlp": (mlp, 40, 1e-2, 0),
    "cnn": (cnn, 40, 3e-3, 0),
    "resnet": (resnet, 40, 3e-3, 0),
    "silu": (silu, 40, 3e-3, 0),
}


def train_one(name: str, act: str, levels: int | None, lam: float, epochs: int | None, seed: int, out: str | None):
    """Train one model, export it, verify it, print and return the summary."""
    if act != "relu" and name != "cnn":
        raise SystemExit(f"--act {act} is only implemented for --model cnn")
    build, ep, lr, shift = RECIPES[name]
    set_seed(seed)
    model = build(act, levels, lam) if name == "cnn" else build()
    d = datasets.digits_splits()
    (x_tr, y_tr), (x_te, y_te) = d["train"], d["test"]
    tag = f"digits_{name}" + (f"_qcfs{levels}" if act == "qcfs" else "")
    print(f"== {tag}: {sum(p.numel() for p in model.parameters())} parameters")
    fit(model, x_tr, y_tr, epochs=epochs or ep, lr=lr, max_shift=shift, seed=seed,
        eval_every=10, x_eval=x_tr, y_eval=y_tr)  # fmt: skip
    print(f"torch test acc {accuracy(model, x_te, y_te):.4f}")
    path = out or os.path.join(HERE, f"{tag}.onnx")
    example = torch.from_numpy(x_te[:2])
    if name == "mlp":
        export_legacy(model, example, path)  # no BN: the TorchScript exporter writes Flatten -> Gemm
    else:
        export_dynamo(model, example, path)  # keeps BatchNormalization
    s = verify(path, model, x_te, y_te)
    print_summary(s)
    if act == "qcfs":
        lams = [m.lam.item() for m in model.modules() if hasattr(m, "lam")]
        print(f"  trained lam per layer: {', '.join(f'{v:.4f}' for v in lams)}")
    return s


BUNDLED = [("mlp", "relu", None), ("cnn", "relu", None), ("resnet", "relu", None), ("silu", "relu", None),
           ("cnn", "qcfs", 2), ("cnn", "qcfs", 15)]  # fmt: skip


def main(argv: list[str] | None = None) -> None:  # noqa: D103
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=[*RECIPES, "all"], default="all")
    p.add_argument("--act", choices=["relu", "qcfs"], default="relu")
    p.add_argument("--levels", type=int, default=None, help="QCFS quantization levels L")
    p.add_argument("--lam", type=float, default=2.0, help="initial QCFS threshold lam (BN outputs are ~unit scale)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output .onnx path (single model only)")
    a = p.parse_args(argv)
    if a.model == "all":
        for name, act, levels in BUNDLED:
            train_one(name, act, levels, a.lam, a.epochs, a.seed, None)
    else:
        train_one(a.model, a.act, a.levels, a.lam, a.epochs, a.seed, a.out)


if __name__ == "__main__":
    main()
