"""The ``nlptag`` command: LightningCLI's fit/validate/test/predict (:mod:`nlptag.cli.lightning`)
plus nlptag's own tools, one module per group: prediction (:mod:`nlptag.cli.predict`), scoring
(:mod:`nlptag.cli.evaluate`) and bundles (:mod:`nlptag.cli.export`). The tools import neither
Lightning nor ``datasets`` unless they need them (``evaluate`` runs a Lightning test loop).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from nlptag.cli.caption import caption_main
from nlptag.cli.evaluate import conlleval_main, evaluate_main
from nlptag.cli.export import export_main
from nlptag.cli.predict import (
    attention_main,
    classify_main,
    generate_main,
    tag_main,
    translate_main,
)
from nlptag.errors import NlptagError
from nlptag.serving.cli import serve_main

Tool = Callable[[list[str]], int]
TOOLS: dict[str, Tool] = {
    "conlleval": conlleval_main,
    "export": export_main,
    "tag": tag_main,
    "classify": classify_main,
    "translate": translate_main,
    "attention": attention_main,
    "generate": generate_main,
    "caption": caption_main,
    "evaluate": evaluate_main,
    "serve": serve_main,
}
"""nlptag's own commands beside LightningCLI's: each takes the remaining arguments and returns
an exit status; the first line of its docstring is its help line."""


def tools_help() -> str:
    """The tool list printed above LightningCLI's ``--help``."""
    lines = [f"  {name:<12} {tool.__doc__.strip().splitlines()[0]}" for name, tool in TOOLS.items()]
    return "nlptag tools (besides the Lightning subcommands below):\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nlptag`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] in TOOLS:
            return TOOLS[args[0]](args[1:])
        if args and args[0] in ("-h", "--help"):
            print(tools_help())
        from nlptag.cli.lightning import NlptagCLI

        NlptagCLI(args=None if argv is None else args)
    except SystemExit as stop:  # a parser's --help or one-line error: its exit status
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)  # SystemExit("message"), as Python would print it
        return 2
    except Exception as error:  # noqa: BLE001 - only nlptag's own errors are reported briefly
        cause = _nlptag_cause(error)
        if cause is None:
            raise
        print(f"nlptag: error: {cause}", file=sys.stderr)
        return 2
    return 0


def _nlptag_cause(error: BaseException | None) -> NlptagError | None:
    """The NlptagError behind ``error``: itself, or one that jsonargparse wrapped while
    instantiating a class from the config."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, NlptagError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
