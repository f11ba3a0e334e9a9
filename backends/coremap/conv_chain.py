"""A chain of convs (with adds, per-channel scales and delays between them) from one source, composed as one conv.

The composition of two convs is a conv: conv2 (kernel k2, stride s2, pad p2, dilation d2) after a map of kernel K1,
stride s1, pad q1 reads the source at stride s1 s2, pad s1 p2 + q1, kernel s1 d2 (k2 - 1) + K1, with
W[o, c, s1 d2 a + b] = sum_c2 W2[o, c2, a] W1[c2, c, b]. It is exact when every position of the middle image that conv2
reads outside that image (its padding) would read only the source's padding through the live taps of the map: then
the zeros conv2 pads with are what the formula gives. A max-pool tree's strided one-hot selections followed by the
next conv compose this way without ever building the explicit (often 200k x 200k) matrix. Anything else (another op,
a non-exact boundary, a kernel too large) returns None and the caller composes the explicit matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.backends.coremap.network import _CANCEL_RTOL, ConvProjection, view3

MAX_KERNEL = 15             # as `as_conv`: larger composed kernels stay explicit matrices
MAX_WEIGHT_ENTRIES = 20_000_000


@dataclass
class _Map:
    """v[o, y, x] = sum W[o, c, i, j] src[c, s0 y - p0 + i, s1 x - p1 + j] (reads outside src are zero)."""

    weight: np.ndarray          # (O, C, KH, KW) float64, full channels
    bound: np.ndarray           # the same products of |weights| (cancellations are dropped against it)
    strides: tuple[int, int]
    pads: tuple[int, int]


def _live(w: np.ndarray, axis: int) -> np.ndarray:
    return np.flatnonzero(np.any(w != 0, axis=(0, 1, 3) if axis == 0 else (0, 1, 2)))


def _full(weight: np.ndarray, groups: int, in_c: int) -> np.ndarray:
    o, cg, kh, kw = weight.shape
    out = np.zeros((o, in_c, kh, kw))
    og = o // groups
    for g in range(groups):
        out[g * og:(g + 1) * og, g * cg:(g + 1) * cg] = weight[g * og:(g + 1) * og]
    return out


def _after_conv(m: _Map, node, w2: np.ndarray, mid3, src3) -> _Map | None:
    w2 = _full(np.asarray(w2, np.float64), int(node.groups), mid3[0])
    s2, d2, p2 = tuple(node.strides), tuple(node.dilations), tuple(node.pads)
    out_hw = view3(node.type.shape)[1:]
    for axis in (0, 1):     # exactness: conv2's padded reads of the middle image must read only source padding
        taps = _live(w2, axis)
        t = np.arange(out_hw[axis])[:, None] * s2[axis] - p2[axis] + taps[None, :] * d2[axis]
        t = np.unique(t[(t < 0) | (t >= mid3[1 + axis])])
        if t.size:
            pos = t[:, None] * m.strides[axis] - m.pads[axis] + _live(m.weight, axis)[None, :]
            if np.any((pos >= 0) & (pos < src3[1 + axis])):
                return None
    k1 = m.weight.shape[2:]
    kernel = tuple(m.strides[a] * d2[a] * (w2.shape[2 + a] - 1) + k1[a] for a in (0, 1))
    if max(kernel) > MAX_KERNEL or w2.shape[0] * m.weight.shape[1] * kernel[0] * kernel[1] > MAX_WEIGHT_ENTRIES:
        return None
    out, bound = (np.zeros((w2.shape[0], m.weight.shape[1]) + kernel) for _ in range(2))
    for a in range(w2.shape[2]):
        for b in range(w2.shape[3]):
            if not np.any(w2[:, :, a, b]):
                continue
            r, c = m.strides[0] * d2[0] * a, m.strides[1] * d2[1] * b
            out[:, :, r:r + k1[0], c:c + k1[1]] += np.einsum("om,mcij->ocij", w2[:, :, a, b], m.weight)
            bound[:, :, r:r + k1[0], c:c + k1[1]] += np.einsum("om,mcij->ocij", np.abs(w2[:, :, a, b]), m.bound)
    return _Map(out, bound, (m.strides[0] * s2[0], m.strides[1] * s2[1]),
                (m.strides[0] * p2[0] + m.pads[0], m.strides[1] * p2[1] + m.pads[1]))


def _sum(parts: list[tuple[float, _Map]]) -> _Map | None:
    if len({m.strides for _, m in parts}) != 1 or len({m.weight.shape[:2] for _, m in parts}) != 1:
        return None
    lo = [min(-m.pads[a] for _, m in parts) for a in (0, 1)]
    hi = [max(m.weight.shape[2 + a] - 1 - m.pads[a] for _, m in parts) for a in (0, 1)]
    shape = parts[0][1].weight.shape[:2] + (hi[0] - lo[0] + 1, hi[1] - lo[1] + 1)
    out, bound = np.zeros(shape), np.zeros(shape)
    for coeff, m in parts:
        r, c = -m.pads[0] - lo[0], -m.pads[1] - lo[1]
        kh, kw = m.weight.shape[2:]
        out[:, :, r:r + kh, c:c + kw] += coeff * m.weight
        bound[:, :, r:r + kh, c:c + kw] += abs(coeff) * m.bound
    return _Map(out, bound, parts[0][1].strides, (-lo[0], -lo[1]))


def _step(node, maps: dict, nodes: dict, constants, src3) -> _Map | None | bool:
    """The map of `node` from the maps of its inputs; False when the node does not depend on the source, None when
    it is not a conv chain."""
    if not any(i in maps for i in node.inputs):
        return False
    if node.op == "delay":
        return maps[node.inputs[0]]
    if node.op == "add":
        return _sum([(float(c), maps[i]) for i, c in zip(node.inputs, node.coeffs) if i in maps])
    if len(nodes[node.inputs[0]].type.shape) != 3 or len(node.type.shape) != 3:
        return None
    m = maps[node.inputs[0]]
    if node.op == "affine":
        if node.scale is None:
            return m
        scale = np.broadcast_to(np.asarray(constants[node.scale], np.float64), node.type.shape).reshape(
            node.type.shape[0], -1)
        if not np.all(scale == scale[:, :1]):
            return None
        return _Map(m.weight * scale[:, :1, None, None], m.bound * np.abs(scale[:, :1, None, None]), m.strides,
                    m.pads)
    if node.op == "conv":
        return _after_conv(m, node, constants[node.weight], view3(nodes[node.inputs[0]].type.shape), src3)
    return None


def compose_conv(nodes: dict, constants, value: str, source: str, sub_order: list[str]) -> ConvProjection | None:
    """The linear sub-graph from `source` to `value` as one conv projection (in the form `as_conv.matrix_as_conv`
    fits: kernel from offset min(first live tap, 0), depthwise when each output channel reads its own channel),
    or None."""
    src3 = view3(nodes[source].type.shape)
    tgt3 = view3(nodes[value].type.shape)
    if len(nodes[source].type.shape) != 3 or len(nodes[value].type.shape) != 3 or src3[1:] == (1, 1) \
            or tgt3[1] == 1 or tgt3[2] == 1:
        return None
    c = src3[0]
    eye = np.eye(c)[:, :, None, None]
    maps: dict[str, _Map] = {source: _Map(eye, eye.copy(), (1, 1), (0, 0))}
    for name in sub_order:
        got = _step(nodes[name], maps, nodes, constants, src3)
        if got is None:
            return None
        if got is not False:
            maps[name] = got
    if value not in maps:
        return None
    m = maps[value]
    w = np.where(np.abs(m.weight) > m.bound * _CANCEL_RTOL, m.weight, 0.0).astype(np.float32)
    for axis in (0, 1):     # taps no output position reads inside the source carry no synapse
        t = np.arange(w.shape[2 + axis])
        pos = np.arange(tgt3[1 + axis])[:, None] * m.strides[axis] - m.pads[axis] + t[None, :]
        dead = ~np.any((pos >= 0) & (pos < src3[1 + axis]), axis=0)
        if axis == 0:
            w[:, :, dead] = 0
        else:
            w[:, :, :, dead] = 0
    if not np.any(w):
        return None
    box, pads = [], []
    for axis in (0, 1):     # from offset min(first live tap, 0) to the last live tap, as `matrix_as_conv` fits
        live = _live(w, axis)
        start = min(int(live[0]), m.pads[axis])
        box.append((start, int(live[-1]) + 1))
        pads.append(m.pads[axis] - start)
    if max(b - a for a, b in box) > MAX_KERNEL:
        return None
    w = w[:, :, box[0][0]:box[0][1], box[1][0]:box[1][1]]
    o, groups = w.shape[0], 1
    touched = np.any(w != 0, axis=(2, 3))
    if o % c == 0 and c > 1:
        per = o // c
        if not np.any(touched & (np.arange(o)[:, None] // per != np.arange(c)[None, :])):
            w, groups = w[np.arange(o), np.arange(o) // per][:, None], c
    (sy, sx), (ky, kx), (h, wd), (ho, wo) = m.strides, w.shape[2:], src3[1:], tgt3[1:]
    return ConvProjection(source, src3, tgt3, np.ascontiguousarray(w), (sy, sx),
                          (pads[0], pads[1], max(0, (ho - 1) * sy - pads[0] + ky - h),
                           max(0, (wo - 1) * sx - pads[1] + kx - wd)), (1, 1), groups)
