"""A small, seeded full-batch-on-CPU training loop shared by the train_*.py scripts."""

from __future__ import annotations

import random
import time
from typing import Callable

import numpy as np
import torch
from torch import nn


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch, and ask torch for deterministic kernels (CPU, 2 threads)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels in x and y (zero fill)."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    p = max_shift
    padded = nn.functional.pad(x, (p, p, p, p))
    dy = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * p)
    out = torch.gather(padded, 2, rows)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, x.shape[1], h, w)
    return torch.gather(out, 3, cols)


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    """Top-1 accuracy of ``model`` in eval mode."""
    model.eval()
    hits = 0
    for i in range(0, len(x), batch):
        hits += int((model(torch.from_numpy(x[i : i + batch])).argmax(-1).numpy() == y[i : i + batch]).sum())
    return hits / len(x)


def fit(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float = 1e-2,
    batch: int = 64,
    weight_decay: float = 1e-4,
    max_shift: int = 0,
    seed: int = 0,
    log: Callable[[str], None] = print,
    eval_every: int = 0,
    x_eval: np.ndarray | None = None,
    y_eval: np.ndarray | None = None,
) -> nn.Module:
    """Adam + cosine learning-rate decay, cross-entropy, shuffled mini-batches, optional random shifts."""
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            xb = random_shift(xt[idx], max_shift, gen)
            loss = loss_fn(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if eval_every and ((ep + 1) % eval_every == 0 or ep + 1 == epochs):
            msg = f"epoch {ep + 1}/{epochs} loss {total / len(x):.4f} ({time.time() - t0:.0f}s)"
            if x_eval is not None:
                msg += f" eval acc {accuracy(model, x_eval, y_eval):.4f}"
            log(msg)
    model.eval()
    return model
