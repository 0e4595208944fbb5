"""What the tools' command lines share: a parser that reports a bad argument in one line (the
usage text stays behind ``--help``), and argument types that check their values."""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn


class ToolArgumentParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors are one ``nlptag: error: ...`` line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"nlptag: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def temperature(text: str) -> float:
    """An argparse type: a finite number >= 0 (0 is greedy)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value
