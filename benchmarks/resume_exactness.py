"""A killed-and-resumed run against the uninterrupted one, on a real config.

Runs ``nlptag fit`` twice with the same seed, side by side (one thread each): run A to the end;
run B killed with SIGKILL at a random moment after its first checkpoint, then resumed with
``--ckpt_path last``. Prints the final validation metrics of both and whether every row of
their ``metrics.csv`` (clock columns aside) is equal::

    NLPTAG_DATA_DIR=../shared/data python -m benchmarks.resume_exactness \\
        --config configs/base/trainer.yaml --config configs/pos/ud_ewt.yaml \\
        --config configs/pos/ud_ewt_fast.yaml --out runs/resume_check --epochs 4
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import cpu_model


def fit_command(configs: list[str], run: Path, epochs: int, *extra: str) -> list[str]:
    composed = [arg for config in configs for arg in ("--config", config)]
    return [
        sys.executable, "-m", "nlptag.cli", "fit", *composed,
        f"--trainer.default_root_dir={run}", f"--trainer.max_epochs={epochs}", *extra,
    ]  # fmt: skip


def rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as handle:
        return [
            {k: v for k, v in row.items() if not k.startswith("time/")}
            for row in csv.DictReader(handle)
        ]


def final_validation(run: Path) -> dict[str, str]:
    validated = [
        row for row in rows(run) if any(k.startswith("val/") and v for k, v in row.items())
    ]
    return {k: v for k, v in validated[-1].items() if v} if validated else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None, help="of the kill moment")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    uninterrupted, killed = args.out / "uninterrupted", args.out / "killed"
    started = time.time()
    a = subprocess.Popen(fit_command(args.config, uninterrupted, args.epochs), env=env)
    b = subprocess.Popen(fit_command(args.config, killed, args.epochs), env=env)
    last = killed / "checkpoints" / "last.ckpt"
    while not last.exists() and b.poll() is None:
        time.sleep(0.5)
    first_checkpoint = time.time() - started
    delay = random.Random(args.seed).uniform(0, first_checkpoint)
    time.sleep(delay)
    if b.poll() is None:
        b.send_signal(signal.SIGKILL)
        b.wait()
        print(f"killed run B {first_checkpoint + delay:.0f} s after its start")
    else:
        print("run B finished before the kill: increase --epochs")
    resumed = subprocess.run(
        fit_command(args.config, killed, args.epochs, "--ckpt_path", "last"), env=env
    )
    a.wait()
    assert a.returncode == 0 and resumed.returncode == 0
    print(f"machine: {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores")
    print(f"uninterrupted final validation: {final_validation(uninterrupted)}")
    print(f"killed+resumed final validation: {final_validation(killed)}")
    same = rows(uninterrupted) == rows(killed)
    print(f"metrics.csv rows equal (clock columns aside): {same}; rows {len(rows(killed))}")


if __name__ == "__main__":
    main()
