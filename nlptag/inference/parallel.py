"""Prediction on several processes of one machine: what ``--processes N`` of ``nlptag tag``,
``classify`` and ``translate`` runs.

The inputs are cut into chunks; N worker processes (started with ``spawn``, each loading the
bundle once, with an equal share of the torch threads) predict them, and the results come back
in input order, so the output is the one a single process writes: the same tags, labels or
translations, since a sentence's prediction does not depend on the others of its batch (for
int8 bundles too, see :mod:`nlptag.inference.int8`). Torch only.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

_worker: dict[str, Any] = {}
"""In a worker process: its predictor, or the error that loading the bundle raised."""


def _load(path: str, backend: str, threads: int) -> None:
    """Worker start-up: load the bundle once (an error is kept and raised with the first
    chunk: a pool restarts workers whose start-up fails, forever)."""
    torch.set_num_threads(threads)
    from nlptag.inference.predictors import load

    try:
        _worker["predictor"] = load(path, backend, threads=threads)
    except Exception as error:  # noqa: BLE001 - given back to the parent with the first chunk
        _worker["error"] = error


def _predict(job: tuple[Sequence, int, dict[str, Any]]) -> list:
    """Worker: the predictions of one chunk."""
    if "error" in _worker:
        raise _worker["error"]
    inputs, batch_size, options = job
    return _worker["predictor"].predict(inputs, batch_size=batch_size, **options)


def predict_in_processes(
    path: str | Path,
    inputs: Sequence,
    batch_size: int,
    processes: int,
    backend: str = "torch",
    chunk_size: int = 512,
    progress: Callable[[int], Any] | None = None,
    **options: Any,
) -> list:
    """``load(path, backend).predict(inputs, batch_size, **options)`` on ``processes`` worker
    processes, results in input order.

    Args:
        path: a bundle directory or a checkpoint.
        inputs: what the task's ``predict`` takes (token lists, texts, source sentences).
        batch_size: inputs per batch, in each worker.
        processes: worker processes, at least 1; each runs ``torch.get_num_threads() //
            processes`` threads (at least 1).
        backend: ``torch`` or ``onnx``.
        chunk_size: inputs per task sent to a worker.
        progress: called with the number of inputs of each chunk as it is done, in order.
        options: the task's prediction options (e.g. ``beam_size``).

    Returns:
        One prediction per input, in input order.
    """
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    threads = max(1, torch.get_num_threads() // processes)
    chunks = [inputs[start : start + chunk_size] for start in range(0, len(inputs), chunk_size)]
    jobs = [(chunk, batch_size, options) for chunk in chunks]
    context = multiprocessing.get_context("spawn")
    results: list = []
    with context.Pool(processes, initializer=_load, initargs=(str(path), backend, threads)) as pool:
        for part in pool.imap(_predict, jobs):
            results += part
            if progress is not None:
                progress(len(part))
    return results
