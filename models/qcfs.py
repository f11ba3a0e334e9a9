"""The QCFS activation (quantization-clip-floor-shift; Bu et al., ICLR 2022), see docs/algorithms.md §1.5.

    a(z) = lam * clip(floor(z * L / lam + 1/2) / L, 0, 1)

with a trainable per-layer threshold ``lam`` (a 0-d parameter) and ``L`` quantization levels. During training the
floor passes its gradient straight through (d floor(u) / du := 1); in eval mode the forward is plain torch ops, so
the exported ONNX graph is the pattern snncc's ``match-qcfs`` pass looks for:

    Div(z, lam) -> Mul(L) -> Add(0.5) -> Floor -> Div(L) -> Clip(0, 1) -> Mul(lam)

The converted SNN uses soft-reset IF neurons with threshold ``lam`` and initial membrane ``lam / 2``.
"""

from __future__ import annotations

import torch
from torch import nn


class _FloorSTE(torch.autograd.Function):
    """floor(u) forward, identity backward (straight-through estimator)."""

    @staticmethod
    def forward(ctx, u: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.floor(u)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return grad


class QCFS(nn.Module):
    """lam * clip(floor(z * L / lam + 0.5) / L, 0, 1) with a trainable scalar ``lam`` and integer ``levels`` L."""

    def __init__(self, levels: int, lam: float = 4.0) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"QCFS needs levels >= 1, got {levels}")
        self.levels = int(levels)
        self.lam = nn.Parameter(torch.tensor(float(lam)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        u = z / self.lam * float(self.levels) + 0.5
        # Eval mode (and hence ONNX export) uses the plain Floor op; training uses the straight-through floor.
        q = _FloorSTE.apply(u) if self.training else torch.floor(u)
        return torch.clamp(q / float(self.levels), 0.0, 1.0) * self.lam

    def extra_repr(self) -> str:  # noqa: D102
        return f"levels={self.levels}, lam={self.lam.item():.4g}"


def make_act(kind: str, levels: int | None = None, lam: float = 4.0) -> nn.Module:
    """Build an activation by name: ``relu`` or ``qcfs`` (which needs ``levels``)."""
    if kind == "relu":
        return nn.ReLU()
    if kind == "qcfs":
        if levels is None:
            raise ValueError("--act qcfs needs --levels L")
        return QCFS(levels, lam)
    raise ValueError(f"unknown activation {kind!r}; expected 'relu' or 'qcfs'")
