"""Errors meant for the user: the CLI prints them as one paragraph, without a traceback."""

from __future__ import annotations

from pathlib import Path


class NlptagError(Exception):
    """A problem with the user's input, data or configuration."""


class DataFormatError(NlptagError):
    """A data file that does not follow its format; names the file and line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


def require_positive(prefix: str, **values: int | None) -> None:
    """Stop with ``<prefix>.<name> must be at least 1, got <value>`` for the first value below 1
    (``None`` is allowed: the option is off)."""
    for name, value in values.items():
        if value is not None and value < 1:
            raise NlptagError(f"{prefix}.{name} must be at least 1, got {value}")
