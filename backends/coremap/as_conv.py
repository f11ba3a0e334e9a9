"""Recognising a composed matrix that is a convolution.

Composing a max-pool tree's one-hot selection convs with the next conv (or any chain of convs, pools and adds) gives
an explicit matrix that is in fact one strided convolution of the source image. As a `ConvProjection` it keeps
kernels shared on profiles that share conv weights, and halos and synapse counts come from formulas. The fit reads
the stride, padding and kernel off the matrix's rows and is accepted only when the convolution reproduces every
row of the matrix: the same nonzero positions and the same values up to float32 rounding.
"""

from __future__ import annotations

import os

import numpy as np

from snncc.backends.coremap.network import ConvProjection, MatrixProjection

MAX_KERNEL = 15


def _axis_fit(rows_src: np.ndarray, rows_out: np.ndarray, size_out: int) -> tuple[int, int, int] | None:
    """(stride, pad, kernel) along one axis from the source coordinates read by each output coordinate."""
    lo = np.full(size_out, np.iinfo(np.int64).max)
    hi = np.full(size_out, np.iinfo(np.int64).min)
    np.minimum.at(lo, rows_out, rows_src)
    np.maximum.at(hi, rows_out, rows_src)
    if size_out == 1:
        return 1, 0, int(hi[0] - lo[0] + 1) if lo[0] <= hi[0] else None
    steps = np.diff(lo[(lo <= hi)])
    interior = steps[1:-1] if steps.size > 2 else steps
    if interior.size == 0 or np.any(interior != interior[0]) or interior[0] < 1:
        return None
    stride = int(interior[0])
    y = np.arange(size_out)
    offsets_lo = lo - stride * y
    offsets_hi = hi - stride * y
    valid = lo <= hi
    first = min(int(offsets_lo[valid].min()), 0)       # a kernel that starts past the pad gets zero taps first
    last = int(offsets_hi[valid].max())
    kernel = last - first + 1
    if kernel > MAX_KERNEL:
        return None
    return stride, -first, kernel


def matrix_as_conv(p: MatrixProjection) -> ConvProjection | None:
    """The projection as an equivalent convolution (depthwise when it only reads each output channel's own input
    channel, else groups = 1), or None."""
    (c, h, w), (o, ho, wo) = p.src_shape, p.tgt_shape
    m = p.matrix
    if m.nnz == 0 or (h == 1 and w == 1) or (ho == 1 and wo == 1):
        return None
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    out_c, rem = np.divmod(rows, ho * wo)
    out_y, out_x = np.divmod(rem, wo)
    src_c, srem = np.divmod(m.indices.astype(np.int64), h * w)
    src_y, src_x = np.divmod(srem, w)
    fy, fx = _axis_fit(src_y, out_y, ho), _axis_fit(src_x, out_x, wo)
    if fy is None or fx is None:
        return None
    (sy, py, ky), (sx, px, kx) = fy, fx
    weight = np.zeros((o, c, ky, kx), np.float32)
    weight[out_c, src_c, src_y - sy * out_y + py, src_x - sx * out_x + px] = m.data
    if os.environ.get("SNNCC_DENSE_TAPS") and (not np.any(weight, axis=(0, 1, 3)).any() is False):
        rows_used, cols_used = np.any(weight, axis=(0, 1, 3)), np.any(weight, axis=(0, 1, 2))
        if not rows_used.all() or not cols_used.all():
            return None
    groups = 1
    if o % c == 0 and c > 1:     # depthwise (output channel o reads input channel o // (o / c) only): smaller kernels
        per = o // c
        touched = np.zeros((o, c), bool)
        touched[out_c, src_c] = True
        if not np.any(touched & (np.arange(o)[:, None] // per != np.arange(c)[None, :])):
            weight = weight[np.arange(o), np.arange(o) // per][:, None]
            groups = c
    conv = ConvProjection(p.source, p.src_shape, p.tgt_shape, weight, (sy, sx),
                          (py, px, max(0, (ho - 1) * sy - py + ky - h), max(0, (wo - 1) * sx - px + kx - w)),
                          (1, 1), groups)
    pos, src, val = conv.rows_csr(np.arange(m.shape[0]))
    keep = val != 0
    pos, src, val = pos[keep], src[keep], val[keep]
    if pos.size != m.nnz:
        return None
    order = np.lexsort((src, pos))
    if not (np.array_equal(pos[order], rows) and np.array_equal(src[order], m.indices)):
        return None
    if not np.allclose(val[order], m.data, rtol=1e-6, atol=0):
        return None
    return conv
