"""Train a 2-layer GCN (Kipf & Welling 2017) on Zachary's karate club and export it to ONNX (needs torch).

    python models/train_gcn.py                 # -> models/karate_gcn.onnx

    H1     = ReLU(A_hat @ (X @ W1) + b1)       A_hat = D^-1/2 (A + I) D^-1/2, a constant initializer
    logits = A_hat @ (H1 @ W2) + b2

X is the 34x34 identity (one-hot node features), labels are the ``club`` attribute (2 classes) and the loss uses
the training nodes of a fixed stratified 50/50 split (``datasets.karate()``). The ONNX input is (batch, 34, 34)
with a dynamic batch dimension (batch = 1 in practice) and the output is (batch, 34, 2); the graph is
MatMul(input, W1) -> MatMul(A_hat, .) -> Add(b1) -> Relu -> MatMul(., W2) -> MatMul(A_hat, .) -> Add(b2),
i.e. the constant A_hat is the *left* operand and mixes along the node axis.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import datasets  # noqa: E402
from onnx_export import export_dynamo, print_summary, verify  # noqa: E402
from training import set_seed  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class GCN(nn.Module):
    """Two graph-convolution layers on a fixed graph; input (B, N, F), output (B, N, classes)."""

    def __init__(self, a_hat: np.ndarray, n_in: int, hidden: int, n_out: int, dropout: float) -> None:
        super().__init__()
        self.register_buffer("a_hat", torch.from_numpy(a_hat))
        self.w1 = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_in, hidden)))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = nn.Parameter(nn.init.xavier_uniform_(torch.empty(hidden, n_out)))
        self.b2 = nn.Parameter(torch.zeros(n_out))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h = torch.relu(torch.matmul(self.a_hat, torch.matmul(self.drop(x), self.w1)) + self.b1)
        return torch.matmul(self.a_hat, torch.matmul(self.drop(h), self.w2)) + self.b2


def main(argv: list[str] | None = None) -> None:  # noqa: D103
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(HERE, "karate_gcn.onnx"))
    a = p.parse_args(argv)

    set_seed(a.seed)
    k = datasets.karate()
    x, y = torch.from_numpy(k["x"]), torch.from_numpy(k["y"])
    train, test = torch.from_numpy(k["train_mask"]), torch.from_numpy(k["test_mask"])
    model = GCN(k["a_hat"], x.shape[-1], a.hidden, 2, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    print(f"== karate_gcn: {sum(p.numel() for p in model.parameters())} parameters, "
          f"{int(train.sum())} train / {int(test.sum())} test nodes")
    for ep in range(a.epochs):
        model.train()
        loss = loss_fn(model(x)[0][train], y[0][train])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (ep + 1) % 50 == 0:
            model.eval()
            with torch.no_grad():
                pred = model(x)[0].argmax(-1)
            print(f"epoch {ep + 1}/{a.epochs} loss {float(loss.detach()):.4f} "
                  f"train acc {float((pred[train] == y[0][train]).float().mean()):.4f}")
    model.eval()
    with torch.no_grad():
        pred = model(x)[0].argmax(-1)
    print(f"torch test-node acc {float((pred[test] == y[0][test]).float().mean()):.4f}")

    export_dynamo(model, x.repeat(2, 1, 1), a.out)  # example batch 2 keeps the batch dim dynamic
    print_summary(verify(a.out, model, k["x"], k["y"], mask=k["test_mask"]))  # accuracy on the test nodes


if __name__ == "__main__":
    main()
