"""Passes over the IR, the pass registry and the pass manager.

A pass is `fn(graph, ctx, **options) -> PassResult`, registered by kebab-case name with `register_pass`.
"""

from snncc.passes.registry import (PASS_REGISTRY, PassContext, PassResult, format_pipeline, get_pass, parse_pipeline,
                                   register_pass)
from snncc.passes.manager import PassManager, RewriteError
from snncc.passes.rewrite import GraphEdit, channel_axis, channel_view
from snncc.passes.fold_bn import fold_bn
from snncc.passes.fold_affine import fold_affine
from snncc.passes.fold_input_norm import fold_input_norm
from snncc.passes.calibrate import ActivationStats, calibrate, collect_stats
from snncc.passes.balance_thresholds import balance_thresholds
from snncc.passes.maxpool_to_relu_tree import maxpool_to_relu_tree
from snncc.passes.lower_rate import lower_rate
from snncc.passes.fold_out_scale import fold_out_scale
from snncc.passes.canonicalize_gcn import canonicalize_gcn
from snncc.passes.lower_phase import lower_phase, phase_pipeline
from snncc.passes.search_phase_base import search_phase_base
from snncc.passes.insert_delays import insert_delays
from snncc.passes.match_qcfs import match_qcfs
from snncc.passes.match_activations import match_activations
from snncc.passes.lower_bits import bits_pipeline, lower_bits
from snncc.passes.shift_bias import shift_bias
from snncc.passes.lower_signed import lower_signed, signed_pipeline
from snncc.passes.lower_gates import amos_pipeline, lower_gates
from snncc.passes.lower_ttfs import lower_ttfs, ttfs_pipeline, ttfs_precondition
from snncc.passes.calibrate_snn import calibrate_snn

__all__ = [
    "PASS_REGISTRY", "PassContext", "PassResult", "PassManager", "RewriteError", "GraphEdit", "format_pipeline",
    "get_pass", "parse_pipeline", "register_pass", "channel_axis", "channel_view", "fold_bn", "fold_affine",
    "fold_input_norm", "calibrate", "collect_stats", "ActivationStats", "balance_thresholds", "maxpool_to_relu_tree",
    "lower_rate", "fold_out_scale", "canonicalize_gcn", "lower_phase", "phase_pipeline", "search_phase_base",
    "insert_delays", "match_qcfs", "match_activations", "lower_bits", "bits_pipeline", "shift_bias", "lower_signed", "signed_pipeline",
    "lower_gates", "amos_pipeline", "lower_ttfs", "ttfs_pipeline", "ttfs_precondition",
    "calibrate_snn",
]
