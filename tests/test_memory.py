"""nlptag.cli.memory: training processes keep freed memory in glibc's heap for the next step,
with fewer page faults and the same arithmetic."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest
import torch

from nlptag.cli import memory
from tests.conftest import REPO

ALLOCATIONS = """
import json, resource, torch
from nlptag.cli.memory import reuse_freed_memory
applied = reuse_freed_memory()
faults = []
for _ in range(20):  # a 64 MiB tensor, written, freed, allocated again: like a training step
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(16 * 2**20)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "faults": faults}))
"""

glibc = pytest.mark.skipif(
    not hasattr(ctypes.CDLL(None), "mallopt"), reason="the C library is not glibc"
)


def allocations(malloc: str | None) -> dict:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    environment.pop(memory.SWITCH, None)
    if malloc is not None:
        environment[memory.SWITCH] = malloc
    done = subprocess.run(
        [sys.executable, "-c", ALLOCATIONS], env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@glibc
def test_freed_memory_is_reused_without_page_faults():
    kept = allocations(None)
    assert kept["applied"] is True
    # the first few grow the heap; then its pages stay mapped from one allocation to the next
    assert sum(faults < 100 for faults in kept["faults"][-10:]) >= 8, kept["faults"]
    default = allocations("default")
    assert default["applied"] is False
    # glibc maps each 64 MiB block afresh: one fault per 4 KiB page, 16,384 of them
    assert min(default["faults"][-10:]) > 10_000, default["faults"]


def test_the_switch_leaves_glibc_alone(monkeypatch):
    monkeypatch.setenv(memory.SWITCH, "default")
    assert memory.reuse_freed_memory() is False


def fit(run, malloc: str | None) -> dict:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    environment.pop(memory.SWITCH, None)
    if malloc is not None:
        environment[memory.SWITCH] = malloc
    command = [sys.executable, "-m", "nlptag.cli", "fit", "--config", "configs/base/trainer.yaml"]
    command += ["--config", "configs/demo.yaml", "--trainer.max_epochs", "2"]
    command += ["--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(run)]
    done = subprocess.run(command, env=environment, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    return state["state_dict"]


@glibc
def test_a_fit_gives_the_same_weights_bit_for_bit_either_way(tmp_path):
    kept, default = fit(tmp_path / "kept", None), fit(tmp_path / "default", "default")
    assert kept.keys() == default.keys()
    assert all(torch.equal(kept[name], default[name]) for name in kept)


def test_nlptag_fit_applies_it(monkeypatch, tmp_path):
    from nlptag.cli import lightning, main

    calls = []
    monkeypatch.setattr(lightning, "reuse_freed_memory", lambda: calls.append(True) or True)
    status = main(
        ["fit", "--config", str(REPO / "configs/base/trainer.yaml")]
        + ["--config", str(REPO / "configs/demo.yaml"), "--trainer.max_epochs", "1"]
        + ["--trainer.default_root_dir", str(tmp_path / "run")]
    )
    assert status == 0 and calls == [True]
