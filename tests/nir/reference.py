"""A small NIR simulator written from NIR's published node equations, independent of snncc's simulator.

Discretisation (NIR spec, discrete-time readers): Euler steps of dt = 1; at each step the nodes run in the order of
the graph with its cycle-closing edges removed, a node's input is the sum of its incoming edges, and a cycle-closing
edge delivers its source's value from the previous step (zero at the first step).

Node equations used (nir 1.0.8 docstrings):
    Input       y = x
    Affine      y = W x + b            Linear   y = W x
    Conv2d      y = conv2d(x, W, stride, padding, dilation, groups) + b
    Flatten     y = x flattened from start_dim to end_dim (NIR shapes exclude the batch axis)
    Scale       y = x * s
    Threshold   z = 1 where x > threshold, else 0
    I           dv/dt = R I  ->  v(t) = v(t-1) + R I(t),  y = v
    IF          dv/dt = R I; z = [v > v_thr]; v = v_reset where z   (not used by snncc's export; here for contrast)
    Output      y = x
"""

from __future__ import annotations

import numpy as np


def _conv2d(x, w, b, stride, padding, dilation, groups):
    """y[n, o] = sum_{c, i, j} w[o, c, i, j] x[n, c, s h + d i - p, s w + d j - p] + b[o] (im2col + matmul)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ph, pw = padding
    sh, sw = stride
    dh, dw = dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    outs = []
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        taps = [xs[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
                for i in range(kh) for j in range(kw)]
        cols = np.stack(taps, axis=2).transpose(1, 2, 0, 3, 4).reshape(cg * kh * kw, n * oh * ow)  # one GEMM
        wg = w[g * og:(g + 1) * og].reshape(og, cg * kh * kw)
        outs.append((wg @ cols).reshape(og, n, oh, ow).transpose(1, 0, 2, 3))
    return (np.concatenate(outs, axis=1) + b.reshape(1, -1, 1, 1)).astype(np.float32)


def _order(graph):
    """Node names in a feed-forward order, and the set of cycle-closing (back) edges found by depth-first search
    from the inputs."""
    import nir

    succ = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        succ[src].append(dst)
    state, back, post = {}, set(), []

    def visit(u):
        state[u] = 1
        for v in succ[u]:
            if state.get(v) == 1:
                back.add((u, v))
            elif v not in state:
                visit(v)
        state[u] = 2
        post.append(u)

    for name, node in graph.nodes.items():
        if isinstance(node, nir.Input):
            visit(name)
    return post[::-1], back


def simulate_nir(graph, x: np.ndarray, timesteps: int) -> np.ndarray:
    """Run a NIR graph (one Input, one Output) on a batch `x` for `timesteps` steps; returns the Output summed over
    time, divided by the number of steps."""
    import nir

    order, back = _order(graph)
    preds = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        preds[dst].append(src)
    n = x.shape[0]
    value, previous, membrane = {}, {}, {}
    total = None
    for _ in range(timesteps):
        for name in order:
            node = graph.nodes[name]
            if isinstance(node, nir.Input):
                value[name] = x.astype(np.float32)
                continue
            parts = [previous.get(src, 0.0) if (src, name) in back else value[src] for src in preds[name]]
            u = sum(parts[1:], parts[0])
            if isinstance(node, nir.Affine):
                y = u @ node.weight.T + node.bias
            elif isinstance(node, nir.Linear):
                y = u @ node.weight.T
            elif isinstance(node, nir.Conv2d):
                y = _conv2d(u, node.weight, node.bias, node.stride, node.padding, node.dilation, node.groups)
            elif isinstance(node, nir.Flatten):
                start = node.start_dim % (u.ndim - 1) + 1
                end = node.end_dim % (u.ndim - 1) + 1
                y = u.reshape(u.shape[:start] + (-1,) + u.shape[end + 1:])
            elif isinstance(node, nir.Scale):
                y = u * node.scale
            elif isinstance(node, nir.Threshold):
                y = (u > node.threshold).astype(np.float32)
            elif isinstance(node, nir.I):
                v = membrane.get(name, np.zeros((n,) + node.r.shape, np.float32))
                membrane[name] = y = (v + node.r * u).astype(np.float32)
            elif isinstance(node, nir.IF):
                v = membrane.get(name, np.zeros((n,) + node.r.shape, np.float32)) + node.r * u
                y = (v > node.v_threshold).astype(np.float32)
                membrane[name] = np.where(y > 0, node.v_reset, v).astype(np.float32)
            elif isinstance(node, nir.Output):
                y = u
                total = y.astype(np.float64) if total is None else total + y
            else:
                raise NotImplementedError(f"reference has no {type(node).__name__}")
            value[name] = np.asarray(y, np.float32)
        previous = dict(value)
    return (total / timesteps).astype(np.float32)
