"""snncc's graph IR: typed op dataclasses, the graph, verification, text form, on-disk format, interpreter."""

from snncc.ir.types import TensorType, DTYPES, dtype_name
from snncc.ir.node import ConstRef, Node, OP_REGISTRY, register_op, op_class
from snncc.ir.ops_ann import (Input, Dense, Conv, AvgPool, MaxPool, GlobalAvgPool, Add, Mul, Concat, Flatten,
                              Reshape, Transpose, Affine, BatchNorm, Relu, BoundedRelu, Clip, LeakyRelu, Sigmoid,
                              HardSigmoid, Tanh, SiLU, HardSwish, Gelu, QCFS)
from snncc.ir.ops_snn import IFNeuron
from snncc.ir.ops_floor import Floor
from snncc.ir.ops_bits import BitsNeuron
from snncc.ir.ops_signed import SignedNeuron
from snncc.ir.ops_phase import Delay, FirstSpikePool, GraphConv, PhaseNeuron
from snncc.ir.ops_amos import FSNeuron, GateOp
from snncc.ir.ops_ttfs import TTFSNeuron
from snncc.ir.graph import Graph, topological_order
from snncc.ir.names import NameTable, sanitize
from snncc.ir.verify import VerifyError, verify
from snncc.ir.interpret import InterpretError, run
from snncc.ir.text import to_text, tensor_digest
from snncc.ir.serialize import FormatError, from_bytes, load, save, to_bytes, to_chunks
from snncc.ir.atomic_write import atomic_write

__all__ = [
    "TensorType", "DTYPES", "dtype_name", "ConstRef", "Node", "OP_REGISTRY", "register_op", "op_class",
    "Input", "Dense", "Conv", "AvgPool", "MaxPool", "GlobalAvgPool", "Add", "Mul", "Concat", "Flatten", "Reshape",
    "Transpose", "Affine", "BatchNorm", "Relu", "BoundedRelu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "Tanh",
    "SiLU", "HardSwish", "Gelu", "QCFS", "IFNeuron", "Floor", "BitsNeuron", "SignedNeuron", "PhaseNeuron", "Delay",
    "GraphConv", "FirstSpikePool", "FSNeuron", "GateOp", "TTFSNeuron", "Graph", "topological_order", "NameTable", "sanitize",
    "VerifyError", "verify", "InterpretError", "run", "to_text", "tensor_digest", "FormatError", "from_bytes", "load", "save",
    "to_bytes", "to_chunks", "atomic_write",
]
