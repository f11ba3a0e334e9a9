"""NumPy kernels shared by the reference interpreter and the simulator (NCHW layout, batch first)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_output_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis."""
    effective = (kernel - 1) * dilation + 1
    return (size + pad_begin + pad_end - effective) // stride + 1


def windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int], pads: tuple[int, int, int, int],
            dilations: tuple[int, int] = (1, 1), pad_value: float = 0.0) -> np.ndarray:
    """Sliding windows of a (N, C, H, W) batch as a (N, C, OH, OW, KH, KW) view (pads = top, left, bottom, right)."""
    top, left, bottom, right = pads
    if any(pads):
        x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=pad_value)
    eh = (kernel[0] - 1) * dilations[0] + 1
    ew = (kernel[1] - 1) * dilations[1] + 1
    win = sliding_window_view(x, (eh, ew), axis=(2, 3))
    return win[:, :, :: strides[0], :: strides[1], :: dilations[0], :: dilations[1]]


# The product copies each sample's windows (C*KH*KW x OH*OW values): a batch is convolved in chunks whose copies
# stay under this many bytes (64 calibration images of 320x320 through a 32-channel 3x3 conv were 3.5 GB at once).
IM2COL_BYTES = 64 << 20


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, strides, pads, dilations, groups: int) -> np.ndarray:
    """2-D cross-correlation y[n,o] = sum_{c,i,j} W[o,c,i,j] x[n, g(o)*Cg + c, s*h + d*i, s*w + d*j] + b[o]."""
    out_channels, cg, kh, kw = weight.shape
    oh = conv_output_size(x.shape[2], kh, strides[0], pads[0], pads[2], dilations[0])
    ow = conv_output_size(x.shape[3], kw, strides[1], pads[1], pads[3], dilations[1])
    step = max(1, IM2COL_BYTES // max(1, x.shape[1] * kh * kw * oh * ow * x.itemsize))
    if len(x) > step:
        return np.concatenate([conv2d(x[i:i + step], weight, bias, strides, pads, dilations, groups)
                               for i in range(0, len(x), step)])
    win = windows(x, (kh, kw), strides, pads, dilations)
    n, c, oh, ow = win.shape[:4]
    if groups == 1:
        y = np.tensordot(win, weight, axes=([1, 4, 5], [1, 2, 3]))  # n, oh, ow, o
        y = np.ascontiguousarray(y.transpose(0, 3, 1, 2))
    else:
        og = out_channels // groups
        win_g = win.reshape(n, groups, cg, oh, ow, kh, kw)
        w_g = weight.reshape(groups, og, cg, kh, kw)
        y = np.einsum("ngchwij,gocij->ngohw", win_g, w_g, optimize=True).reshape(n, out_channels, oh, ow)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y.astype(x.dtype, copy=False)


def avg_pool2d(x: np.ndarray, kernel, strides, pads, count_include_pad: bool) -> np.ndarray:
    """Mean over each window; padded cells count in the divisor only when `count_include_pad`."""
    total = windows(x, kernel, strides, pads).sum(axis=(4, 5))
    if count_include_pad or not any(pads):
        return (total / (kernel[0] * kernel[1])).astype(x.dtype, copy=False)
    ones = np.ones((1, 1) + x.shape[2:], dtype=x.dtype)
    counts = windows(ones, kernel, strides, pads).sum(axis=(4, 5))
    return (total / counts).astype(x.dtype, copy=False)


def max_pool2d(x: np.ndarray, kernel, strides, pads, dilations=(1, 1)) -> np.ndarray:
    """Max over each window (padding never wins)."""
    return windows(x, kernel, strides, pads, dilations, pad_value=-np.inf).max(axis=(4, 5))
