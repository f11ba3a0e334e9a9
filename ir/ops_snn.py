"""Spiking ops: neuron populations produced by the coding lowerings.

A population's output value is its spike train read as a number: a spike of neuron i carries `out_scale[i]`
(1 after `fold-out-scale` has pushed the scale into the consumers' weights). In ANN mode (the reference
interpreter) a population evaluates to its rate limit, the value its decoded spike train converges to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncc.ir.node import ConstRef, Node, register_op


def population_type(input_type, theta: np.ndarray):
    """A neuron population's output type: its input's, given a positive theta that broadcasts against it."""
    np.broadcast_shapes(input_type.shape, theta.shape)
    if np.any(theta <= 0):
        raise ValueError("theta must be positive")
    return input_type


def _scaled(node, rate: np.ndarray, constants) -> np.ndarray:
    if node.out_scale is None:
        return rate
    return (rate * constants[node.out_scale]).astype(rate.dtype, copy=False)


@register_op
@dataclass(frozen=True, slots=True, kw_only=True)
class IFNeuron(Node):
    """Soft-reset (reset-by-subtraction) integrate-and-fire population, concurrent schedule.

        v(0) = v0 * theta
        v(t) = v(t-1) + I(t);  s(t) = [v(t) >= theta];  v(t) -= theta * s(t)
        output(t) = s(t) * out_scale

    Rate limit (ANN mode): clip(I, 0, theta) / theta * out_scale. theta is a scalar or per channel.
    """

    op = "if_neuron"
    spiking = True
    theta: ConstRef
    out_scale: ConstRef | None = None
    v0: float = 0.0

    def infer_type(self, input_types, constants):
        if len(input_types) != 1:
            raise ValueError("if_neuron takes 1 input")
        np.broadcast_shapes(input_types[0].shape, constants[self.theta].shape)
        return input_types[0]

    def evaluate(self, inputs, constants):
        theta = constants[self.theta]
        rate = np.clip(inputs[0], 0, theta) / theta
        return _scaled(self, rate.astype(inputs[0].dtype, copy=False), constants)
