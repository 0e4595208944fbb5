"""A run directory belongs to one ``nlptag fit``: the lock, resuming only what exists, and no
second run mixed into a finished one."""

import subprocess
import sys
import time

from nlptag.cli import main
from nlptag.cli.run_directory import lock_run_directory, release_run_directory
from tests.conftest import REPO

DEMO = str(REPO / "configs" / "demo.yaml")


def fit(run_dir, *extra):
    return main(["fit", "--config", DEMO, "--trainer.default_root_dir", str(run_dir), *extra])


def test_a_second_fit_on_a_directory_in_use_stops_at_once_naming_the_holder(tmp_path, capsys):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from nlptag.cli.run_directory import lock_run_directory\n"
            f"lock_run_directory({str(tmp_path)!r}); print('locked', flush=True); time.sleep(60)",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.perf_counter()
        assert fit(tmp_path, "--trainer.max_epochs=1") == 2
        assert time.perf_counter() - started < 10  # refused before any data or model work
        message = capsys.readouterr().err
        assert f"{tmp_path} is in use by process {holder.pid}" in message
        assert "Traceback" not in message
        assert not (tmp_path / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder died: its lock went with it, with no stale lock file to delete by hand
    lock_run_directory(tmp_path)
    release_run_directory(tmp_path)


def test_ckpt_path_last_without_a_checkpoint_is_an_error_not_a_restart(tmp_path, capsys):
    assert fit(tmp_path, "--trainer.max_epochs=1", "--ckpt_path", "last") == 2
    message = capsys.readouterr().err
    assert "--ckpt_path last" in message and "holds no checkpoint to resume" in message
    assert not (tmp_path / "metrics.csv").exists()


def test_a_new_fit_into_a_finished_run_is_refused_and_leaves_it_intact(tmp_path, capsys):
    assert fit(tmp_path, "--trainer.max_epochs=1") == 0
    before = (tmp_path / "metrics.csv").read_text()
    last = (tmp_path / "checkpoints" / "last.ckpt").read_bytes()
    assert fit(tmp_path, "--trainer.max_epochs=1") == 2
    message = capsys.readouterr().err
    assert "already holds a run; resume it with --ckpt_path last" in message
    assert (tmp_path / "metrics.csv").read_text() == before
    assert (tmp_path / "checkpoints" / "last.ckpt").read_bytes() == last
