"""Pass registry and pipeline strings.

A pass is a plain function `fn(graph, ctx, **options) -> PassResult`, registered under a kebab-case name. A pipeline
is a string: `"fold-bn,balance-thresholds{mode=channel,stat=percentile,q=99.99},lower-rate{v0=half}"`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from snncc.errors import OptionError
from snncc.ir import Graph


@dataclass(frozen=True)
class PassResult:
    """What a pass returns: the new graph and whether it changed anything."""

    graph: Graph
    modified: bool


@dataclass
class PassContext:
    """Everything a pass may need besides the graph: calibration data, options shared by several passes, the
    hardware profile, statistics computed by earlier passes, and a progress switch. Never globals."""

    calibration: np.ndarray | None = None
    source_model: str | None = None
    timesteps: int = 32
    progress: bool = False
    profile: Any = None
    stats: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    calibration_stats: Any = None   # CalibrationStats gathered elsewhere (by shards) over `calibration`


PassFn = Callable[..., PassResult]


@dataclass(frozen=True)
class RegisteredPass:
    name: str
    fn: PassFn
    doc: str


PASS_REGISTRY: dict[str, RegisteredPass] = {}


# a sentence ends at . ! or ? before a space ("e.g." and "i.e." do not end one; "1.5" has no space)
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)[.!?](?=\s)")


def first_sentence(doc: str) -> str:
    """The whole first sentence of a docstring's first paragraph, on one line (what `snncc passes` shows).
    A paragraph without a sentence end is taken whole; a trailing colon (maths follows) becomes a full stop."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    end = _SENTENCE_END.search(paragraph)
    sentence = paragraph[:end.end()] if end else paragraph
    return sentence[:-1] + "." if sentence.endswith(":") else sentence


def register_pass(name: str) -> Callable[[PassFn], PassFn]:
    """Decorator: register `fn` as pass `name` (kebab-case). Users add passes and lowerings the same way."""
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name):
        raise ValueError(f"pass name {name!r} must be kebab-case")

    def wrap(fn: PassFn) -> PassFn:
        PASS_REGISTRY[name] = RegisteredPass(name, fn, first_sentence(fn.__doc__ or ""))
        return fn
    return wrap


def get_pass(name: str) -> RegisteredPass:
    try:
        return PASS_REGISTRY[name]
    except KeyError:
        raise OptionError(f"unknown pass {name!r}; registered passes: {', '.join(sorted(PASS_REGISTRY))}") from None


_ITEM = re.compile(r"\s*([a-z][a-z0-9-]*)\s*(?:\{([^{}]*)\})?\s*(?:,|$)")


def _option_value(text: str) -> Any:
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return text


def parse_pipeline(text: str) -> list[tuple[str, dict[str, Any]]]:
    """`"a,b{k=v,k2=3}"` -> [("a", {}), ("b", {"k": "v", "k2": 3})]; unknown pass names are an OptionError."""
    items, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if not m or m.end() == pos:
            raise OptionError(f"cannot parse pipeline {text!r} at position {pos}")
        name, opts = m.group(1), m.group(2)
        options = {}
        if opts:
            for kv in opts.split(","):
                if "=" not in kv:
                    raise OptionError(f"pass option {kv!r} in {name} must be key=value")
                k, v = kv.split("=", 1)
                options[k.strip()] = _option_value(v)
        get_pass(name)
        items.append((name, options))
        pos = m.end()
    return items


def _format_option(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def format_pipeline(items: list[tuple[str, Mapping[str, Any]]]) -> str:
    """Inverse of parse_pipeline, options in sorted order (recorded in the compiled IR's header)."""
    out = []
    for name, options in items:
        if options:
            out.append(name + "{" + ",".join(f"{k}={_format_option(v)}" for k, v in sorted(options.items())) + "}")
        else:
            out.append(name)
    return ",".join(out)
