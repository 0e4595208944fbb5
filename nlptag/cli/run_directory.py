"""A run directory belongs to one ``nlptag fit`` at a time.

:func:`lock_run_directory` takes an exclusive ``flock`` on ``<run>/.lock`` for the life of the
process (the operating system drops it when the process ends, even by ``kill -9``, so a stale
lock cannot block a resume) and writes the holder's PID, host and command line into it, so a
second ``fit`` on the same directory stops at once and names the process that has it.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO

from nlptag.errors import NlptagError
from nlptag.files import remove_leftovers

LOCK_NAME = ".lock"

_held: dict[Path, IO] = {}


def lock_run_directory(run_dir: str | Path) -> None:
    """Take the run directory for this process (again: a no-op), or raise
    :class:`NlptagError` naming the process that holds it. Also removes temporary files that
    an interrupted run left in the run and checkpoint directories."""
    folder = Path(run_dir).resolve()
    if folder in _held:
        return
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_NAME, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise NlptagError(
            f"the run directory {run_dir} is in use by {holder}; wait for it to finish, or "
            "choose another --trainer.default_root_dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    command = " ".join(["nlptag", *sys.argv[1:]])
    handle.write(
        f"process {os.getpid()} on {socket.gethostname()} "
        f"(started {time.strftime('%Y-%m-%d %H:%M:%S')}: {command})\n"
    )
    handle.flush()
    _held[folder] = handle
    atexit.register(release_run_directory, folder)
    for directory in (folder, folder / "checkpoints"):
        remove_leftovers(directory)


def release_run_directory(run_dir: str | Path) -> None:
    """Give the run directory back (the end of the process does this, too)."""
    handle = _held.pop(Path(run_dir).resolve(), None)
    if handle is not None:
        handle.seek(0)
        handle.truncate()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def is_main_process() -> bool:
    """True unless this is a secondary rank of a multi-process run (they share rank 0's lock)."""
    return all(os.environ.get(name, "0") == "0" for name in ("RANK", "LOCAL_RANK", "NODE_RANK"))
