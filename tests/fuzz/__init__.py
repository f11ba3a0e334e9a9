"""Mutation fuzzer over the bundled ONNX models and compiled .snnir files.

    pytest tests/fuzz                       # the short CI budget (a few seconds)
    python -m tests.fuzz --minutes 10       # a long run by hand; prints cases run, outcomes and findings
"""
