"""The pass manager: runs passes in order, verifies between them, times them and names the failing pass."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tqdm import tqdm

from snncc.errors import PassError, SnnccError
from snncc.ir import Graph, VerifyError, to_text, verify
from snncc.passes.registry import PassContext, format_pipeline, get_pass, parse_pipeline


class RewriteError(Exception):
    """Raised by a pass about one node; the manager turns it into a PassError naming the pass."""

    def __init__(self, node: str | None, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


@dataclass
class PassTiming:
    name: str
    seconds: float
    modified: bool


def _option_error(name: str, options: dict[str, Any], exc: Exception) -> PassError:
    given = ",".join(f"{k}={v}" for k, v in options.items())
    return PassError(f"pass '{name}' cannot run with {{{given}}}: {type(exc).__name__}: {exc}; check the option "
                     "values (see `snncc passes`)")


@dataclass
class PassManager:
    """Runs a pipeline (a string or a list of (name, options)).

    `print_after`: a pass name or "all"; the IR text after it goes to `printer` (stderr by default).
    """

    pipeline: str | list[tuple[str, dict[str, Any]]]
    verify_each: bool = True
    print_after: str | None = None
    printer: Callable[[str], None] = field(default=lambda text: sys.stderr.write(text))
    timings: list[PassTiming] = field(default_factory=list)
    user_options: bool = False   # options come from a user's pipeline string: a pass failing on them is a user error

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        return parse_pipeline(self.pipeline) if isinstance(self.pipeline, str) else list(self.pipeline)

    def pipeline_string(self) -> str:
        return format_pipeline(self.items())

    def run(self, graph: Graph, ctx: PassContext | None = None) -> Graph:
        return self.run_taking([graph], ctx)

    def run_taking(self, graphs: list[Graph], ctx: PassContext | None = None) -> Graph:
        """`run` on `graphs.pop()`: with the caller holding no other reference, each pass's input graph is freed as
        soon as the next pass has it (a pass rewriting every weight then holds two sets of weights, not three)."""
        graph = graphs.pop()
        ctx = ctx or PassContext()
        items = self.items()
        done: list[str] = []
        with tqdm(total=len(items), desc="compile", unit="pass", disable=not ctx.progress, leave=False) as bar:
            for name, options in items:
                bar.set_postfix_str(name, refresh=True)
                graph = self._run_one(name, options, graph, ctx, done)
                done.append(name)
                bar.update()
        return graph

    def _run_one(self, name: str, options: dict[str, Any], graph: Graph, ctx: PassContext, done: list[str]) -> Graph:
        """Run one pass (its errors named with the passes `done` before it), verify, time and print it."""
        registered = get_pass(name)
        start = time.perf_counter()
        after = f" (after: {', '.join(done)})" if done else " (first pass)"
        try:
            result = registered.fn(graph, ctx, **options)
        except RewriteError as exc:
            where = f" on node %{exc.node}" if exc.node else ""
            raise PassError(f"pass '{name}' failed{where}{after}: {exc.message}") from exc
        except TypeError as exc:
            if "unexpected keyword" in str(exc):
                raise PassError(f"pass '{name}': {exc}") from None
            if options and self.user_options:
                raise _option_error(name, options, exc) from None
            raise
        except SnnccError:
            raise
        except (ValueError, OverflowError, ZeroDivisionError) as exc:
            # with options the user wrote (compile --pipeline) the likeliest cause is an option value the pass
            # cannot use; otherwise it is a bug and stays an internal error
            if options and self.user_options:
                raise _option_error(name, options, exc) from None
            raise
        if self.verify_each:
            try:
                verify(result.graph)
            except VerifyError as exc:
                raise PassError(f"pass '{name}' produced an invalid graph{after}: {exc}") from None
        self.timings.append(PassTiming(name, time.perf_counter() - start, result.modified))
        if self.print_after in ("all", name):
            self.printer(f"// ----- IR after {name} -----\n{to_text(result.graph)}")
        return result.graph
