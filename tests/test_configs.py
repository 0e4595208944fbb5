"""Every shipped config is exercised: task configs train two steps on their real data (from the
mirror in $NLPTAG_DATA_DIR), override configs must parse on top of the demo config."""

import os
import subprocess
import sys

import pytest

from nlptag.cli import main
from tests.conftest import REPO, SHARED_DATA

CONFIGS = sorted((REPO / "configs").glob("**/*.yaml"))
TASK_CONFIGS = [c for c in CONFIGS if c.parent.name != "overrides"]
OVERRIDES = [c for c in CONFIGS if c.parent.name == "overrides"]


def test_configs_were_found():
    assert (REPO / "configs" / "demo.yaml") in TASK_CONFIGS
    assert (REPO / "configs" / "pos" / "ud_ewt.yaml") in TASK_CONFIGS
    assert OVERRIDES


def test_every_task_config_starts_with_its_command():
    for config in TASK_CONFIGS:
        lines = config.read_text().splitlines()
        header = " ".join(
            line for line in lines[: next(i for i, x in enumerate(lines) if not x.startswith("#"))]
        )
        assert "nlptag fit" in header and "--config" in header, config


@pytest.mark.parametrize("config", TASK_CONFIGS, ids=lambda c: str(c.relative_to(REPO)))
def test_task_config_trains(config, tmp_path, monkeypatch):
    if config.name != "demo.yaml":
        if not SHARED_DATA.is_dir():
            pytest.skip(f"needs the data mirror {SHARED_DATA} (set NLPTAG_DATA_DIR)")
        monkeypatch.setenv("NLPTAG_DATA_DIR", str(SHARED_DATA))
    status = main(
        [
            "fit",
            "--config",
            str(config),
            "--trainer.fast_dev_run=2",
            f"--trainer.default_root_dir={tmp_path}",
        ]
    )
    assert status == 0


@pytest.mark.parametrize("override", OVERRIDES, ids=lambda c: c.name)
def test_override_config_parses(override):
    result = subprocess.run(
        [sys.executable, "-m", "nlptag.cli", "fit", "--config", "configs/demo.yaml"]
        + ["--config", str(override), "--print_config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "strategy: ddp" in result.stdout and "bf16-mixed" in result.stdout
