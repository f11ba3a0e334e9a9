"""Index maps and padded views of 2-D sliding windows, shared by convolutions and pooling."""

import numpy as np


def conv_index_maps(in_shape, kernel, out_shape, strides, pads, dilations):
    """Index maps of a 2-D convolution or pooling window, built once per layer.

    gather (KH*KW, OH*OW): flat index into the zero-padded (Hp, Wp) input plane of tap (i, j) of output pixel
        (oh, ow): (s0 oh + d0 i) * Wp + (s1 ow + d1 j)  (im2col).
    scatter (KH*KW, H*W): for input pixel q = (h, w), the output pixel p that tap (i, j) sends it to, i.e. the p with
        s0 oh + d0 i - top = h and s1 ow + d1 j - left = w, or OH*OW (a discard slot) when there is none. For a
        fixed tap the map is injective, so a scatter through it has no collisions.
    """
    _, h, w = in_shape
    kh, kw = kernel
    _, oh, ow = out_shape
    s0, s1 = strides
    d0, d1 = dilations
    top, left, bottom, right = pads
    padded_w = w + left + right
    rows = np.arange(oh)[None, :] * s0 + np.arange(kh)[:, None] * d0      # (KH, OH), padded coordinates
    cols = np.arange(ow)[None, :] * s1 + np.arange(kw)[:, None] * d1      # (KW, OW)
    gather = (rows[:, None, :, None] * padded_w + cols[None, :, None, :]).reshape(kh * kw, oh * ow)
    n_out = oh * ow
    scatter = np.full((kh * kw, h * w), n_out, dtype=np.intp)
    for i in range(kh):
        in_rows = rows[i] - top
        ok_r = (in_rows >= 0) & (in_rows < h)
        for j in range(kw):
            in_cols = cols[j] - left
            ok_c = (in_cols >= 0) & (in_cols < w)
            q = in_rows[ok_r][:, None] * w + in_cols[ok_c][None, :]
            p = np.arange(oh)[ok_r][:, None] * ow + np.arange(ow)[ok_c][None, :]
            scatter[i * kw + j, q.ravel()] = p.ravel()
    return gather.astype(np.intp), scatter


class PaddedInput:
    """A zero-padded (batch, C, Hp*Wp) copy of a (batch, C, H, W) value, refreshed each step; a plain view when there
    is no padding."""

    def __init__(self, value, pads):
        top, left, bottom, right = pads
        batch, c, h, w = value.shape
        self.value = value
        if any(pads):
            self.buffer = np.zeros((batch, c, h + top + bottom, w + left + right), dtype=np.float32)
            self.interior = self.buffer[:, :, top:top + h, left:left + w]
        else:
            self.buffer = value
            self.interior = None
        self.flat = self.buffer.reshape(batch, c, -1)

    def refresh(self):
        if self.interior is not None:
            np.copyto(self.interior, self.value)
