"""Small hand-built graphs for the simulator tests (imported by the test modules in this folder)."""

from __future__ import annotations

import numpy as np

from snncc.ir import (Add, AvgPool, Concat, ConstRef, Conv, Dense, Flatten, GlobalAvgPool, Graph, IFNeuron, Input,
                      TensorType, verify)


class NetBuilder:
    """Appends nodes, inferring each node's type from its inputs with the op's own shape rule."""

    def __init__(self) -> None:
        self.nodes = []
        self.constants: dict[str, np.ndarray] = {}
        self.types: dict[str, TensorType] = {}

    def const(self, name: str, value) -> ConstRef:
        self.constants[name] = np.asarray(value, dtype=np.float32)
        return ConstRef(name)

    def input(self, name: str, shape: tuple[int, ...]) -> str:
        node = Input(name=name, type=TensorType(tuple(shape)))
        self.nodes.append(node)
        self.types[name] = node.type
        return name

    def op(self, cls, name: str, inputs, **attrs) -> str:
        inputs = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        probe = cls(name=name, inputs=inputs, type=TensorType(()), **attrs)
        node = probe.replace(type=probe.infer_type([self.types[i] for i in inputs], self.constants))
        self.nodes.append(node)
        self.types[name] = node.type
        return name

    def neuron(self, name: str, source: str, theta, *, out_scale=None, v0: float = 0.5) -> str:
        theta_ref = self.const(f"{name}.theta", theta)
        scale_ref = None if out_scale is None else self.const(f"{name}.out_scale", out_scale)
        return self.op(IFNeuron, name, source, theta=theta_ref, out_scale=scale_ref, v0=v0)

    def graph(self, *outputs: str) -> Graph:
        g = Graph.build(self.nodes, outputs, self.constants)
        verify(g)
        return g


def mlp(rng: np.random.Generator, sizes=(12, 16, 10), theta=1.0, scale_by_theta=True, dyadic=False) -> Graph:
    """input -> [dense -> if_neuron]* -> dense. With `dyadic`, weights are multiples of 1/16 and theta a power of
    two, so every sum is exact in float32 whatever its order."""
    b = NetBuilder()
    x = b.input("x", (sizes[0],))
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in))
        bias = rng.normal(0, 0.1, n_out)
        if dyadic:
            w, bias = np.round(w * 16) / 16, np.round(bias * 16) / 16
        x = b.op(Dense, f"fc{i}", x, weight=b.const(f"fc{i}.w", w), bias=b.const(f"fc{i}.b", bias))
        if i < len(sizes) - 2:
            x = b.neuron(f"if{i}", x, theta, out_scale=theta if scale_by_theta else None)
    return b.graph(x)


def conv_net(rng: np.random.Generator, channels=(2, 8, 16), size=12, classes=10, dyadic=False,
             per_channel_theta=True) -> Graph:
    """conv(pad 1) -> if -> avg_pool 2 -> conv(stride 2, pad 1) -> if -> add(skip: conv 1x1 of the pooled spikes)
    -> if -> flatten -> dense."""
    b = NetBuilder()

    def weights(name, shape, fan_in):
        w = rng.normal(0, 1.5 / np.sqrt(fan_in), shape)
        bias = rng.normal(0, 0.05, shape[0])
        if dyadic:
            w, bias = np.round(w * 16) / 16, np.round(bias * 16) / 16
        return b.const(f"{name}.w", w), b.const(f"{name}.b", bias)

    def theta(name, c):
        if per_channel_theta:
            t = rng.choice([0.5, 1.0, 2.0], size=(c, 1, 1)) if dyadic else rng.uniform(0.5, 1.5, (c, 1, 1))
        else:
            t = 1.0
        return t

    c0, c1, c2 = channels
    x = b.input("x", (c0, size, size))
    w, bias = weights("conv1", (c1, c0, 3, 3), c0 * 9)
    h = b.op(Conv, "conv1", x, weight=w, bias=bias, pads=(1, 1, 1, 1))
    t1 = theta("if1", c1)
    h = b.neuron("if1", h, t1, out_scale=t1)
    p = b.op(AvgPool, "pool1", h, kernel=(2, 2), strides=(2, 2))
    w, bias = weights("conv2", (c2, c1, 3, 3), c1 * 9)
    h = b.op(Conv, "conv2", p, weight=w, bias=bias, strides=(1, 1), pads=(1, 1, 1, 1))
    t2 = theta("if2", c2)
    h2 = b.neuron("if2", h, t2, out_scale=t2)
    w, bias = weights("skip", (c2, c1, 1, 1), c1)
    s = b.op(Conv, "skip", p, weight=w, bias=bias)
    t3 = theta("if_skip", c2)
    s = b.neuron("if_skip", s, t3, out_scale=None)
    r = b.op(Add, "res", (h2, s), coeffs=(1.0, 0.5))
    w, bias = weights("conv3", (c2, c2, 3, 3), c2 * 9)
    h = b.op(Conv, "conv3", r, weight=w, bias=bias, strides=(2, 2), pads=(1, 1, 1, 1))
    t4 = theta("if3", c2)
    h = b.neuron("if3", h, t4, out_scale=t4)
    f = b.op(Flatten, "flat", h)
    n_flat = b.types[f].shape[0]
    w = rng.normal(0, 1 / np.sqrt(n_flat), (classes, n_flat))
    if dyadic:
        w = np.round(w * 16) / 16
    out = b.op(Dense, "fc", f, weight=b.const("fc.w", w), bias=b.const("fc.b", np.zeros(classes)))
    return b.graph(out)
