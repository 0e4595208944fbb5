"""Shared pieces of the benchmark scripts: build a task's model and data from a config."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date
from pathlib import Path

import torch

from nlptag.callbacks.precision import clip_grad_norm_
from nlptag.cli.hardware import cpu_model  # noqa: F401 (the benchmarks' CPU model name)
from nlptag.cli.lightning import NlptagCLI

BASE_TRAINER = "configs/base/trainer.yaml"
"""The trainer settings every task config is composed after."""


def cli_from_config(config: str, *overrides: str) -> NlptagCLI:
    """The CLI (model, data module and trainer) exactly as ``nlptag fit --config CONFIG`` would
    build them, not run (the benchmark's own command-line arguments hidden from LightningCLI,
    which warns about them)."""
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        return NlptagCLI(args=["--config", config, *overrides], run=False)
    finally:
        sys.argv = argv


def from_config(config: str, *overrides: str):
    """(model, datamodule) as :func:`cli_from_config` builds them."""
    cli = cli_from_config(config, *overrides)
    return cli.model, cli.datamodule


class FitStep:
    """A config's model, data and optimizer, and one training step as ``nlptag fit`` runs it
    with Lightning's automatic optimization: ``training_step`` (forward and loss),
    ``zero_grad``, ``backward``, gradient clipping at the config's ``gradient_clip_val`` as
    nlptag's precision plugins clip, and the optimizer step. The model and data are built by
    :func:`cli_from_config`, so through ``NlptagCLI`` as ``nlptag fit`` builds them (glibc's freed
    memory kept for reuse included, :mod:`nlptag.cli.memory`), and the clipping value is the
    trainer's, overrides included. Seed torch before building it.

    Args:
        config: the task config, composed after ``configs/base/trainer.yaml``.
        overrides: command-line overrides after it, as ``nlptag fit`` takes them (e.g.
            ``"--data.init_args.batch_size=128"``).
    """

    def __init__(self, config: str, overrides: Sequence[str] = ()) -> None:
        cli = cli_from_config(BASE_TRAINER, "--config", config, *overrides)
        self.model, self.data = cli.model, cli.datamodule
        self.data.setup("fit")
        optimizer = self.model.configure_optimizers()
        self.optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
        self.parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.clip = cli.trainer.gradient_clip_val
        self.model.train()

    def __call__(
        self,
        batch,
        index: int,
        scope: Callable[[str], AbstractContextManager] = lambda phase: nullcontext(),
    ) -> torch.Tensor:
        """Run one step on ``batch``; ``scope(phase)`` wraps each phase (``forward``,
        ``zero_grad``, ``backward``, ``optimizer``). Returns the loss, () float."""
        with scope("forward"):  # training_step: forward, loss, self.log
            loss = self.model.training_step(batch, index)
        with scope("zero_grad"):
            self.optimizer.zero_grad()
        with scope("backward"):
            loss.backward()
        with scope("optimizer"):
            if self.clip:
                clip_grad_norm_(self.parameters, self.clip)
            self.optimizer.step()
        return loss


def machine() -> str:
    threads = torch.get_num_threads()
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, {threads} torch thread(s)"


def commit() -> str:
    """The short hash of the checked-out commit, with ``+changes`` when a tracked file other
    than the benchmarks' own results differs from it."""

    def git(*args: str) -> str:
        here = Path(__file__).resolve().parent
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=here).stdout

    dirty = git(
        "status", "--porcelain", "--untracked-files=no", "--", ":/", ":!/benchmarks/results"
    )
    return git("rev-parse", "--short", "HEAD").strip() + ("+changes" if dirty.strip() else "")


def today() -> str:
    return date.today().isoformat()


def timed(function, repeat: int) -> float:
    """CPU seconds of this process per call, after one warm-up call. With one torch thread this
    is the time the work takes on one core, whatever else the machine is running."""
    function()
    start = time.process_time()
    for _ in range(repeat):
        function()
    return (time.process_time() - start) / repeat


def fastest_wall(passes: int, function, *arguments) -> float:
    """Wall-clock seconds of the fastest of ``passes`` calls of ``function(*arguments)`` (warm
    up before calling this: every call counts)."""
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        function(*arguments)
        times.append(time.perf_counter() - start)
    return min(times)


def report(lines: list[str], out: str | Path | None) -> None:
    """Print a result's Markdown lines and, when ``out`` is given, write them there atomically."""
    from nlptag.files import write_text_atomically

    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        write_text_atomically(out, text)
