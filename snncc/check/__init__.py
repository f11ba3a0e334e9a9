"""`snncc check`: which codings can express a model, from its graph alone, before any calibration."""

from snncc.check.profile_fit import register_profile_precondition
from snncc.check.run import check_graph, check_model, check_pipeline
from snncc.check.table import format_report
from snncc.check.verdict import BLOCKED, UNCHECKED, WORKS, CheckReport, Verdict
from snncc.passes.preconditions import Blocker, register_precondition

__all__ = ["BLOCKED", "Blocker", "CheckReport", "UNCHECKED", "Verdict", "WORKS", "check_graph", "check_model",
           "check_pipeline", "format_report", "register_precondition", "register_profile_precondition"]
