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


CHUNK = 1 << 20     # matrix entries decoded at a time: the fit and the check stay within a few tens of MB


def _axis_range(size_out: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(size_out, np.iinfo(np.int64).max), np.full(size_out, np.iinfo(np.int64).min)


def _axis_fit(lo: np.ndarray, hi: np.ndarray) -> tuple[int, int, int] | None:
    """(stride, pad, kernel) along one axis from the first and last source coordinate each output coordinate
    reads."""
    size_out = lo.size
    if size_out == 1:       # one output position: the kernel starts at source 0 (no pad), so it spans 0..hi
        if lo[0] > hi[0] or hi[0] + 1 > MAX_KERNEL:
            return None
        return 1, 0, int(hi[0]) + 1
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


def _row_chunks(m, entries: int = CHUNK):
    """(first row, end row) ranges of about `entries` matrix entries each."""
    a, n = 0, m.shape[0]
    while a < n:
        b = int(np.searchsorted(m.indptr, m.indptr[a] + entries, side="right")) - 1
        b = min(n, max(b, a + 1))
        yield a, b
        a = b


def _decode(m, a: int, b: int, src_shape, tgt_shape):
    """(out channel, out row, out col, src channel, src row, src col) of the entries of rows [a, b)."""
    (_, h, w), (_, ho, wo) = src_shape, tgt_shape
    rows = np.repeat(np.arange(a, b), np.diff(m.indptr[a:b + 1]))
    out_c, rem = np.divmod(rows, ho * wo)
    out_y, out_x = np.divmod(rem, wo)
    src_c, srem = np.divmod(m.indices[m.indptr[a]:m.indptr[b]].astype(np.int64), h * w)
    src_y, src_x = np.divmod(srem, w)
    return out_c, out_y, out_x, src_c, src_y, src_x


def _same(conv: ConvProjection, m) -> bool:
    """Whether the conv's explicit form has exactly the matrix's nonzero positions and its values (1e-6), chunk by
    chunk: for one output row `rows_csr` lists sources in increasing order, as a canonical CSR row does."""
    for a, b in _row_chunks(m):
        pos, src, val = conv.rows_csr(np.arange(a, b))
        keep = val != 0
        lo, hi = m.indptr[a], m.indptr[b]
        if int(keep.sum()) != hi - lo:
            return False
        if not np.array_equal(np.bincount(pos[keep], minlength=b - a), np.diff(m.indptr[a:b + 1])):
            return False
        if not np.array_equal(src[keep], m.indices[lo:hi]):
            return False
        if not np.allclose(val[keep], m.data[lo:hi], rtol=1e-6, atol=0):
            return False
    return True


def matrix_as_conv(p: MatrixProjection) -> ConvProjection | None:
    """The projection as an equivalent convolution (depthwise when it only reads each output channel's own input
    channel, else groups = 1), or None. Large matrices are read in chunks of CHUNK entries."""
    (c, h, w), (o, ho, wo) = p.src_shape, p.tgt_shape
    m = p.matrix
    if m.nnz == 0 or (h == 1 and w == 1) or (ho == 1 and wo == 1):
        return None
    (lo_y, hi_y), (lo_x, hi_x) = _axis_range(ho), _axis_range(wo)
    for a, b in _row_chunks(m):
        _, out_y, out_x, _, src_y, src_x = _decode(m, a, b, p.src_shape, p.tgt_shape)
        np.minimum.at(lo_y, out_y, src_y)
        np.maximum.at(hi_y, out_y, src_y)
        np.minimum.at(lo_x, out_x, src_x)
        np.maximum.at(hi_x, out_x, src_x)
    fy, fx = _axis_fit(lo_y, hi_y), _axis_fit(lo_x, hi_x)
    if fy is None or fx is None:
        return None
    (sy, py, ky), (sx, px, kx) = fy, fx
    weight = np.zeros((o, c, ky, kx), np.float32)
    touched = np.zeros((o, c), bool)
    for a, b in _row_chunks(m):
        out_c, out_y, out_x, src_c, src_y, src_x = _decode(m, a, b, p.src_shape, p.tgt_shape)
        weight[out_c, src_c, src_y - sy * out_y + py, src_x - sx * out_x + px] = m.data[m.indptr[a]:m.indptr[b]]
        touched[out_c, src_c] = True
    if os.environ.get("SNNCC_DENSE_TAPS") and (not np.any(weight, axis=(0, 1, 3)).any() is False):
        rows_used, cols_used = np.any(weight, axis=(0, 1, 3)), np.any(weight, axis=(0, 1, 2))
        if not rows_used.all() or not cols_used.all():
            return None
    groups = 1
    if o % c == 0 and c > 1:     # depthwise (output channel o reads input channel o // (o / c) only): smaller kernels
        per = o // c
        if not np.any(touched & (np.arange(o)[:, None] // per != np.arange(c)[None, :])):
            weight = weight[np.arange(o), np.arange(o) // per][:, None]
            groups = c
    conv = ConvProjection(p.source, p.src_shape, p.tgt_shape, weight, (sy, sx),
                          (py, px, max(0, (ho - 1) * sy - py + ky - h), max(0, (wo - 1) * sx - px + kx - w)),
                          (1, 1), groups)
    return conv if _same(conv, m) else None
