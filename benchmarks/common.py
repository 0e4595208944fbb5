"""Shared pieces of the benchmark scripts: build a task's model and data from a config."""

from __future__ import annotations

import os
import platform
import time
from datetime import date

import torch

from nlptag.cli.lightning import NlptagCLI


def from_config(config: str, *overrides: str):
    """(model, datamodule) exactly as ``nlptag fit --config CONFIG`` would build them."""
    cli = NlptagCLI(args=["--config", config, *overrides], run=False)
    return cli.model, cli.datamodule


def machine() -> str:
    threads = torch.get_num_threads()
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, {threads} torch thread(s)"


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
