"""match-qcfs: recognise the quantize-clip-floor-shift activation as exported to ONNX and make it one `qcfs` node
(algorithms.md §1.5), so that its threshold and level count are known without data; with `clip=true`, plain
Clip(0, c) becomes `bounded_relu{theta=c}`."""

from __future__ import annotations

import numpy as np

from snncc.ir import Affine, BoundedRelu, Clip, Floor, QCFS
from snncc.passes.registry import PassResult, register_pass
from snncc.passes.rewrite import GraphEdit, channel_axis

RTOL = 1e-5  # float32 rounding of the exported constants (1/lam, L/lam) stays far below this


def _compose(affines, constants, shape) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta) with  affines[-1](...affines[0](x)) = alpha * x + beta,  broadcast-ready against `shape`."""
    alpha = np.ones((1,) * len(shape), np.float64)
    beta = np.zeros((1,) * len(shape), np.float64)
    for node in affines:
        s = np.asarray(constants[node.scale], np.float64) if node.scale is not None else np.float64(1.0)
        t = np.asarray(constants[node.shift], np.float64) if node.shift is not None else np.float64(0.0)
        alpha, beta = alpha * s, beta * s + t
    return alpha, beta


def _single_reader(graph, consumers, name: str):
    """The only reader of value `name`, or None when it has several, none, or is a graph output."""
    readers = consumers.get(name, [])
    if len(readers) != 1 or name in graph.outputs:
        return None
    return readers[0]


def _uniform(a: np.ndarray) -> bool:
    return bool(np.all(a == a.reshape(-1)[0]))


def _per_channel(a: np.ndarray, shape) -> bool:
    """True when `a` is a scalar or varies only along the channel axis of the per-sample `shape`."""
    if a.ndim > len(shape):
        return False
    if len(shape) <= 1:
        return True
    axis = channel_axis(shape)
    rows = np.moveaxis(np.broadcast_to(a, shape), axis, 0).reshape(shape[axis], -1)
    return bool(np.all(rows == rows[:, :1]))


def match_one(graph, floor: Floor, consumers, nodes) -> tuple[dict, str | None]:
    """Match `[affine]* -> floor -> [affine]* -> clip -> [affine]*` around `floor`.

    Returns (match, None) or ({}, reason it does not fire). The match holds the nodes to remove, the input z, and
    theta (per channel allowed), levels L, shift and, where the pre-floor scale is not L/theta, the affine that
    makes it so."""
    shape = floor.type.shape
    # before: walk back through affines that only feed the chain
    pre = []
    src = floor.inputs[0]
    while isinstance(nodes[src], Affine) and _single_reader(graph, consumers, src) is not None:
        pre.insert(0, nodes[src])
        src = nodes[src].inputs[0]
    alpha, beta = _compose(pre, graph.constants, shape)
    # after: affines, exactly one clip, affines
    post_in, clip, post_out = [], None, []
    cur = floor.name
    while True:
        reader = _single_reader(graph, consumers, cur)
        if isinstance(reader, Affine):
            (post_in if clip is None else post_out).append(reader)
        elif isinstance(reader, Clip) and clip is None:
            clip = reader
        else:
            break
        cur = reader.name
    if clip is None:
        return {}, "no Clip after the Floor (not a QCFS activation)"
    s1, t1 = _compose(post_in, graph.constants, shape)
    s2, t2 = _compose(post_out, graph.constants, shape)
    if np.any(s1 <= 0) or np.any(t1 != 0):
        return {}, "the step between Floor and Clip is not a positive scaling"
    if np.any(t2 != 0) or np.any(s2 <= 0):
        return {}, "the step after Clip is not a positive scaling"
    lo, hi = clip.lo / s1, clip.hi / s1                      # the clip bounds in units of the floored value
    if not (np.all(lo == 0) and np.all(np.isfinite(hi)) and _uniform(hi)):
        return {}, f"Clip({clip.lo}, {clip.hi}) is not Clip(0, c) with the same c for every channel"
    levels = int(round(float(hi.reshape(-1)[0])))
    if levels < 1 or abs(float(hi.reshape(-1)[0]) - levels) > RTOL * levels:
        return {}, f"the clip bound {float(hi.reshape(-1)[0])} is not a whole number of levels"
    theta = s1 * s2 * levels                                  # y = theta * clip(q / L, 0, 1)
    if np.allclose(s1 * levels, 1.0, rtol=RTOL, atol=0):
        theta = s2                                            # Div(L) then Mul(lam): keep lam bit for bit
    if np.any(alpha <= 0) or not _per_channel(alpha, shape) or not _per_channel(theta, shape):
        return {}, "the scalings are not positive per-channel constants"
    # q = floor(alpha z + beta) = floor(z' L / theta + shift) with z' = z * alpha theta / L (+ offset)
    gain = alpha * theta / levels
    shift = 0.5
    offset = (beta - shift) * theta / levels
    if _uniform(beta) and np.allclose(gain, 1.0, rtol=RTOL, atol=0):
        shift, gain, offset = float(beta.reshape(-1)[0]), None, None
    elif np.allclose(offset, 0.0, rtol=0, atol=RTOL * float(np.max(theta))):
        offset = None
    return {"pre": pre, "post": post_in + [clip] + post_out, "z": src, "theta": theta, "levels": levels,
            "shift": shift, "gain": gain, "offset": offset}, None


def _broadcast_ready(a: np.ndarray, shape) -> np.ndarray:
    """Squeeze a (1,...,1) array to a scalar; keep a per-channel one broadcast-ready."""
    a = np.asarray(a, np.float32)
    return a.reshape(()) if a.size == 1 else a.reshape(a.shape[-len(shape):] if len(shape) else ())


@register_pass("match-qcfs")
def match_qcfs(graph, ctx, clip: bool = False) -> PassResult:
    """Recognise the QCFS activation as exported to ONNX (Div, Mul, Add, Floor, Clip) and make it one qcfs gate.

    The QCFS activation `lam * clip(floor(z L / lam + 1/2) / L, 0, 1)` as exported to ONNX, e.g.

        Div(lam) -> Mul(L) -> Add(0.5) -> Floor -> Div(L) -> Clip(0, 1) -> Mul(lam)

    (in any grouping: the scalings on each side of the Floor are composed, so Mul(L/lam), Clip(0, L) -> Mul(lam/L)
    and the like match too) becomes `qcfs{theta=lam, levels=L, shift=1/2}` reading z. Per-channel lam is kept per
    channel. If the scale before the Floor is not L/lam (a model that quantizes on another grid), an explicit
    `affine` keeps the graph exact. With `clip=true` every other Clip(0, c), c > 0, becomes `bounded_relu{theta=c}`
    (data-free threshold; off by default because balance-thresholds does the same in every coding's pipeline, after
    gate-fitting codings have seen the Clip). A Floor outside this pattern is left alone and the lowering passes
    name it. Part of every coding's canonicalisation (`snncc.pipeline.CANONICALIZE`)."""
    edit = GraphEdit(graph)
    consumers = graph.consumers()
    nodes = graph.node_map()
    in_pattern = set()
    for node in graph.nodes:
        if not isinstance(node, Floor):
            continue
        match, reason = match_one(graph, node, consumers, nodes)
        if reason is not None:
            ctx.log.append(f"match-qcfs: %{node.name} not matched: {reason}")
            continue
        shape = node.type.shape
        z = match["z"]
        if match["gain"] is not None or match["offset"] is not None:
            name = edit.fresh_name(f"{node.name}.scale")
            gain = None if match["gain"] is None else edit.constant(f"{name}.scale",
                                                                    _broadcast_ready(match["gain"], shape))
            offset = None if match["offset"] is None else edit.constant(f"{name}.shift",
                                                                        _broadcast_ready(match["offset"], shape))
            edit.insert_before(node.name, Affine(name=name, inputs=(z,), type=node.type, scale=gain, shift=offset))
            z = name
        for pre in match["pre"]:
            edit.remove(pre.name, pre.inputs[0])
        for post in match["post"]:
            edit.remove(post.name, node.name)
            in_pattern.add(post.name)
        theta = edit.constant(f"{node.name}.theta", _broadcast_ready(match["theta"], shape))
        edit.replace(QCFS(name=node.name, inputs=(z,), type=node.type, theta=theta, levels=match["levels"],
                          shift=match["shift"]))
    if clip:
        for node in graph.nodes:
            if isinstance(node, Clip) and node.name not in in_pattern and node.lo == 0.0 \
                    and np.isfinite(node.hi) and node.hi > 0:
                theta = edit.constant(f"{node.name}.theta", np.array(node.hi, np.float32))
                edit.replace(BoundedRelu(name=node.name, inputs=node.inputs, type=node.type, theta=theta))
    return PassResult(edit.apply(), edit.modified)
