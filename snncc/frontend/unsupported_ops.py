"""Why no coding can express an op that has no converter, for the ops third-party models bring most often.

An op missing from the converters is either one nobody has written yet (a generic "no converter" answer, with how
to register one) or one that no spiking layer computes: the user of a third-party model needs to know which, and
what kind of model would work instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx


@dataclass(frozen=True)
class Reason:
    why: str
    fix: str


_DIVIDES = ("divides activations by a statistic of the sample's own activations: neither linear nor a "
            "per-element gate, so no spiking layer computes it")
_NORM_FIX = ("no coding can; a model with BatchNorm in its place would (BatchNorm folds into the weights), or "
             "fine-tune the model with the normalisation removed")
_QUANT = Reason("an int8-quantised graph (quantise/dequantise steps and integer kernels); snncc reads the float "
                "model and sets its own thresholds and weight precision",
                "compile the float model it was quantised from")
_RECURRENT = Reason("a recurrent layer: its state is carried from one sequence step to the next and its gates "
                    "multiply activations; snncc compiles feed-forward graphs",
                    "no coding can; a model without recurrent layers (convolutional or feed-forward) would")
_ELEMENTWISE = Reason("a per-element function snncc has no gate for yet",
                     "--coding amos takes any per-element function once it is registered: a Gate with "
                     "snncc.gates.register_gate and a converter with snncc.frontend.converter (README: AMOS / FS "
                     "circuits)")

KNOWN: dict[str, Reason] = {
    "LRN": Reason("local response normalisation x / (k + alpha/n * sum of squared neighbours)^beta "
                  + _DIVIDES, "no coding can; the model without LRN would (AlexNet/GoogLeNet-era nets: fine-tune "
                  "with LRN removed, or BatchNorm in its place)"),
    "LayerNormalization": Reason("layer normalisation " + _DIVIDES, _NORM_FIX),
    "InstanceNormalization": Reason("instance normalisation " + _DIVIDES, _NORM_FIX),
    "GroupNormalization": Reason("group normalisation " + _DIVIDES, _NORM_FIX),
    "MeanVarianceNormalization": Reason("mean-variance normalisation " + _DIVIDES, _NORM_FIX),
    "LpNormalization": Reason("Lp normalisation " + _DIVIDES, _NORM_FIX),
    "LSTM": _RECURRENT, "GRU": _RECURRENT, "RNN": _RECURRENT, "DynamicQuantizeLSTM": _RECURRENT,
    **{op: _QUANT for op in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger",
                             "MatMulInteger", "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul",
                             "QGemm", "MatMulIntegerToFloat")},
    **{op: _ELEMENTWISE for op in ("Sqrt", "Reciprocal", "Exp", "Log", "Sin", "Cos", "Abs", "Sign", "Softplus",
                                   "Softsign", "Mish", "Elu", "Selu", "Celu", "ThresholdedRelu", "Erf")},
    **{op: Reason(f"control flow: {op} runs a subgraph chosen or repeated at run time (by an input's value or a "
                  "loop count); snncc compiles one fixed feed-forward graph",
                  "no coding can; export the branch or the unrolled loop the model takes as a graph of its own")
       for op in ("If", "Loop", "Scan")},
    **{op: Reason(f"{op} selects by value at run time (post-processing: boxes, top-k, argmax)",
                  "compile the network up to the layer before it, and run the post-processing on the decoded "
                  "outputs") for op in ("NonMaxSuppression", "TopK", "ArgMax", "ArgMin")},
}


def _layer_norm_sqrt(model: onnx.ModelProto, node: onnx.NodeProto) -> bool:
    """A Sqrt of a mean of squares (ReduceMean within three producers upstream): a decomposed LayerNorm."""
    producers = {out: n for n in model.graph.node for out in n.output}
    frontier = list(node.input)
    for _ in range(3):
        nodes = [producers[v] for v in frontier if v in producers]
        if any(n.op_type == "ReduceMean" for n in nodes):
            return True
        frontier = [v for n in nodes for v in n.input]
    return False


def reason(model: onnx.ModelProto, node: onnx.NodeProto) -> Reason | None:
    """Why no coding can express `node` (an op without a converter), or None when snncc simply lacks one."""
    if node.op_type == "Sqrt" and _layer_norm_sqrt(model, node):
        return Reason("Sqrt of a mean of squares, i.e. a decomposed layer normalisation (x - mean) / "
                      "sqrt(var + eps), which " + _DIVIDES, _NORM_FIX)
    return KNOWN.get(node.op_type)
