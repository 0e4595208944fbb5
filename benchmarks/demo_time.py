"""How long `make demo` takes once set up: its two commands (train the embedded demo tagger, tag
a sentence), timed from a fresh run directory, written as a markdown table.

    python -m benchmarks.demo_time --repeat 3 --out benchmarks/results/demo_time.md

Wall seconds and the CPU seconds of the child processes; the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import commit, cpu_model, today
from nlptag.files import write_text_atomically

REPO = Path(__file__).resolve().parent.parent
SENTENCE = "The quick brown fox jumps over the lazy dog ."


def commands(run_dir: Path) -> list[list[str]]:
    """The commands of the Makefile's ``demo`` target, with ``run_dir`` as the run directory."""
    nlptag = str(Path(sys.executable).parent / "nlptag")
    return [
        [nlptag, "fit", "--config", "configs/base/trainer.yaml", "--config", "configs/demo.yaml",
         "--trainer.default_root_dir", str(run_dir)],
        [nlptag, "tag", str(run_dir / "checkpoints" / "best.ckpt"), "--text", SENTENCE],
    ]  # fmt: skip


def one_run(scratch: Path) -> tuple[float, float, float, float, float]:
    """(fit wall s, tag wall s, CPU s of both, last val/acc, best val/acc: the one of the
    checkpoint ``make demo`` tags with and names) of one demo run from scratch."""
    run_dir = scratch / "demo"
    shutil.rmtree(run_dir, ignore_errors=True)
    walls = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for command in commands(run_dir):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = [row for row in csv.DictReader(open(run_dir / "metrics.csv")) if row.get("val/acc")]
    scores = [float(row["val/acc"]) for row in rows]
    return walls[0], walls[1], cpu, scores[-1], max(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runs = [one_run(Path(scratch)) for _ in range(args.repeat)]
    fit, tag, cpu, last, best = (statistics.median(column) for column in zip(*runs))
    load = os.getloadavg()[0]
    text = (
        f"`python -m benchmarks.demo_time --repeat {args.repeat}`: the two commands of `make demo` "
        f"after setup, median of {args.repeat} runs from a fresh run directory.\n\n"
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {load:.1f} at the end; "
        f"commit {commit()}, {today()}.\n\n"
        "| step | wall seconds |\n| --- | ---: |\n"
        f"| `nlptag fit` (demo, 30 epochs) | {fit:.1f} |\n"
        f"| `nlptag tag` (one sentence) | {tag:.1f} |\n"
        f"| both | {fit + tag:.1f} |\n\n"
        f"CPU seconds of both: {cpu:.1f}; val/acc of the demo tagger: {best:.2f} at its best "
        f"epoch (the best checkpoint's, which `make demo` prints), {last:.2f} at the last.\n"
    )
    print(text)
    if args.out:
        write_text_atomically(args.out, text)


if __name__ == "__main__":
    main()
