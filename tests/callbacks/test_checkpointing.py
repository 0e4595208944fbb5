"""Checkpoints written every epoch and crash-safely, and a resume that repeats the
uninterrupted run exactly (``nlptag.callbacks.checkpointing``)."""

import csv
import errno
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nlptag.callbacks.checkpointing import epoch_seed
from nlptag.cli import main
from tests.conftest import REPO

DEMO = str(REPO / "configs" / "demo.yaml")
STEPS_PER_EPOCH = 6  # 48 demo sentences in batches of 8


def fit(run_dir: Path, *extra: str) -> int:
    return main(
        ["fit", "--config", DEMO, "--trainer.default_root_dir", str(run_dir)]
        + ["--trainer.log_every_n_steps=1", *extra]
    )


def fit_killed(run_dir: Path, epochs: int, callback: str, **init_args: int) -> None:
    """A fit subprocess that SIGKILLs itself through one of tests.test_cli_helpers' callbacks."""
    killed = subprocess.run(
        [sys.executable, "-m", "nlptag.cli", "fit", "--config", DEMO]
        + ["--trainer.default_root_dir", str(run_dir), f"--trainer.max_epochs={epochs}"]
        + [
            "--trainer.log_every_n_steps=1",
            f"--trainer.callbacks+=tests.test_cli_helpers.{callback}",
        ]
        + [f"--trainer.callbacks.init_args.{key}={value}" for key, value in init_args.items()],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]


def logged(run_dir: Path) -> list[dict[str, str]]:
    """metrics.csv without the clock columns (wall and CPU time differ between runs)."""
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in rows]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("uninterrupted")
    assert fit(run, "--trainer.max_epochs=4") == 0
    return run


def test_last_ckpt_is_the_end_of_every_epoch_not_of_the_best_one(uninterrupted):
    last = torch.load(uninterrupted / "checkpoints" / "last.ckpt", weights_only=True)
    best = torch.load(uninterrupted / "checkpoints" / "best.ckpt", weights_only=True)
    assert last["epoch"] == 3 and last["global_step"] == 4 * STEPS_PER_EPOCH
    assert best["epoch"] <= last["epoch"]


def test_a_run_killed_between_epochs_resumes_to_the_same_metrics(uninterrupted, tmp_path):
    fit_killed(tmp_path, 4, "KillAtEpochStart", epoch=2)
    first = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert first["epoch"] == 1
    assert not list((tmp_path / "checkpoints").glob(".*"))
    assert fit(tmp_path, "--trainer.max_epochs=4", "--ckpt_path", "last") == 0
    # every logged value (losses of every step, validation of every epoch) is the same, and no
    # row is there twice
    assert logged(tmp_path) == logged(uninterrupted)
    # the training clock continues from the checkpoint instead of restarting at zero
    resumed = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    (clock,) = [c for k, c in resumed["callbacks"].items() if k.startswith("TrainingClock")]
    (first_clock,) = [c for k, c in first["callbacks"].items() if k.startswith("TrainingClock")]
    assert clock["cpu_minutes"] > first_clock["cpu_minutes"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_a_run_killed_at_a_random_step_resumes_to_the_same_metrics(
    uninterrupted, tmp_path, attempt
):
    step = random.Random().randint(STEPS_PER_EPOCH + 1, 4 * STEPS_PER_EPOCH - 1)
    print(f"killed before global step {step}")
    fit_killed(tmp_path, 4, "KillAtStep", step=step)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == (step // STEPS_PER_EPOCH) * STEPS_PER_EPOCH
    assert fit(tmp_path, "--trainer.max_epochs=4", "--ckpt_path", "last") == 0
    assert logged(tmp_path) == logged(uninterrupted)
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_leftovers_of_a_killed_write_are_removed_on_resume(tmp_path):
    assert fit(tmp_path, "--trainer.max_epochs=1") == 0
    leftover = tmp_path / "checkpoints" / ".last.ckpt.x1y2.tmp"
    leftover.write_bytes(b"half a checkpoint")
    assert fit(tmp_path, "--trainer.max_epochs=2", "--ckpt_path", "last") == 0
    assert not leftover.exists()


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    assert fit(tmp_path, "--trainer.max_epochs=1") == 0
    last = tmp_path / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    real_save = torch.save

    def save_until_the_disk_is_full(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        with open(path, "r+b") as handle:
            handle.truncate(100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("nlptag.callbacks.checkpointing.torch.save", save_until_the_disk_is_full)
    assert fit(tmp_path, "--trainer.max_epochs=2", "--ckpt_path", "last") != 0
    message = capsys.readouterr().err
    assert "no space left on the device" in message and "Traceback" not in message
    assert last.read_bytes() == before
    assert torch.load(last, weights_only=True)["epoch"] == 0
    assert not list((tmp_path / "checkpoints").glob(".*"))


def test_epoch_seeds_differ_across_epochs_and_runs():
    seeds = {epoch_seed(seed, epoch) for seed in range(5) for epoch in range(100)}
    assert len(seeds) == 500
