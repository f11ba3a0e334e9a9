"""Graph convolution synapses: y = A (x W^T) + b."""

import numpy as np

from .base import Kernel, Signal, register_kernel, zeros_buffer


@register_kernel("graph_conv")
class GraphConvKernel(Kernel):
    """One graph layer on (nodes, features): y = A (x W^T) + b with the constant adjacency A[nodes, nodes].
    A unit on input (j, f) causes nnz(A[:, j]) x nnz(W[:, f]) synaptic events."""

    synaptic = True

    def setup(self):
        self.adjacency = self.const("adjacency")
        self.weight = self.const("weight")
        (in_shape,) = self.input_shapes
        if self.adjacency is None or self.weight is None or len(in_shape) != 2 \
                or self.adjacency.shape != (in_shape[0], in_shape[0]) or self.weight.shape[1] != in_shape[1]:
            self.fail(f"adjacency and weight do not fit input {list(in_shape)}")
        self.weight_t = np.ascontiguousarray(self.weight.T)
        self.bias = self.const("bias")

    def ann_macs(self):
        nodes, features = self.input_shapes[0]
        return nodes * features * self.shape[1] + int(np.count_nonzero(self.adjacency)) * self.shape[1]

    def bias_adds(self):
        return 0 if self.bias is None else int(np.prod(self.shape, dtype=np.int64))

    def input_fanout(self, index, output_fanout):
        return np.outer(np.count_nonzero(self.adjacency, axis=0), np.count_nonzero(self.weight, axis=0)).astype(
            np.float64)

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.x = source.value
        self.out = zeros_buffer(batch, self.shape)
        self.analog_input = not source.spike_derived
        self.output = Signal(self.out, static=source.static)
        return self.output

    def step(self, t):
        y = np.matmul(self.adjacency, np.matmul(self.x, self.weight_t))
        if self.bias is not None:
            y = y + self.bias
        np.copyto(self.out, y)
