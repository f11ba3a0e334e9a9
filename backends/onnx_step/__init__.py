"""ONNX step backend: one time step of a compiled SNN as a stateful ONNX model (`lower_program`), run over T steps
on onnxruntime (`OrtStepRunner`), or exported for any ONNX runtime (`export_step_model`)."""

from snncc.backends.onnx_step.lower import StateSpec, StepModel, lower_program

__all__ = ["StateSpec", "StepModel", "lower_program"]
