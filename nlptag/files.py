"""Crash-safe file writes, the one definition every writer in nlptag uses.

A file is written to a temporary file in its own directory, flushed to disk (fsync) and renamed
onto its name, so a reader sees either the previous complete file or the new complete one, never
a partial one: not after ``kill -9``, not after a full disk. A failed write removes its temporary
file, keeps the previous file and raises one :class:`~nlptag.errors.NlptagError` naming the file.
Temporary files start with ``.<name>.`` and end with ``.tmp``; :func:`remove_leftovers` deletes
those a killed process left behind.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from nlptag.errors import NlptagError

TEMPORARY_SUFFIX = ".tmp"

_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
"""What ``open`` would give a new file (``mkstemp`` makes it private to its owner)."""


def _reason(error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return "no space left on the device"
    return error.strerror or str(error)


def fsync_directory(directory: str | Path) -> None:
    """Make a rename inside ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextmanager
def atomic_path(path: str | Path, what: str = "file") -> Iterator[Path]:
    """Yields a temporary path beside ``path``; when the block ends without an error, the file
    written there is fsynced and renamed onto ``path``. On any error the temporary file is
    removed and ``path`` keeps its previous content; an ``OSError`` (disk full, permission) is
    raised again as one :class:`NlptagError` naming ``path`` (``what`` says what it is)."""
    target = Path(path)
    if not target.parent.is_dir():
        raise NlptagError(
            f"cannot write the {what} {target}: the directory {target.parent} does not exist"
        )
    try:
        handle, name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=TEMPORARY_SUFFIX
        )
    except OSError as error:
        raise NlptagError(f"cannot write the {what} {target}: {_reason(error)}") from None
    os.close(handle)
    temporary = Path(name)
    try:
        os.chmod(temporary, FILE_MODE)
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
        fsync_directory(target.parent)
    except OSError as error:
        raise NlptagError(
            f"cannot write the {what} {target}: {_reason(error)}; "
            "the previous file, if any, is kept"
        ) from None
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", what: str = "file") -> Iterator[IO]:
    """``open`` for writing, crash-safe: the file appears under ``path`` only when the block
    ends without an error (see :func:`atomic_path`). Text modes use UTF-8."""
    with atomic_path(path, what) as temporary:
        encoding = None if "b" in mode else "utf-8"
        with open(temporary, mode, encoding=encoding, newline="" if encoding else None) as out:
            yield out


def write_text_atomically(path: str | Path, text: str, what: str = "file") -> None:
    """Write ``text`` (UTF-8) to ``path`` crash-safely."""
    with atomic_open(path, "w", what) as out:
        out.write(text)


def write_with(path: str | Path, write: Callable[[Path], object], what: str = "file") -> None:
    """Let ``write(temporary path)`` produce the file, then put it under ``path`` crash-safely
    (for writers that take a path, such as ``torch.save`` or ``safetensors``)."""
    with atomic_path(path, what) as temporary:
        write(temporary)


def remove_leftovers(directory: str | Path) -> list[Path]:
    """Delete the temporary files of interrupted writes in ``directory`` (not recursive);
    returns what was removed. Only call it where no other process is writing (the run lock)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    removed = []
    for candidate in folder.glob(f".*{TEMPORARY_SUFFIX}"):
        if candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed
