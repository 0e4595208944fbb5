"""Append one finished training run to ``benchmarks/results/<task>.tsv``.

    python -m benchmarks.record_run --task ner --run runs/ner_s1 \
        --config configs/ner/conll2003.yaml --seed 1 --commit 878ae24 --metric test/f1

The metric is read from the run's ``metrics.json`` (written by ``nlptag test``); minutes default
to the last ``time/cpu_minutes`` / ``time/wall_minutes`` the run logged in ``metrics.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
from datetime import date
from pathlib import Path

from nlptag.cli.hardware import cpu_model

COLUMNS = [
    "config", "commit", "seed", "metric", "value", "epochs", "cpu_minutes", "wall_minutes",
    "machine", "date", "note",
]  # fmt: skip


def last_logged(metrics_csv: Path, key: str) -> str:
    rows = [row for row in csv.DictReader(open(metrics_csv)) if row.get(key)]
    return rows[-1][key] if rows else ""


def append_run(results: Path, row: list[str]) -> None:
    """Append one run's row (``COLUMNS``) to a results TSV, with the header if it is new."""
    results.parent.mkdir(parents=True, exist_ok=True)
    new = not results.exists()
    with open(results, "a", encoding="utf-8") as handle:
        if new:
            handle.write("\t".join(COLUMNS) + "\n")
        handle.write("\t".join(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--config", required=True)
    parser.add_argument("--seed", required=True)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--metric", required=True)
    parser.add_argument("--cpu-minutes", default=None)
    parser.add_argument("--wall-minutes", default=None)
    parser.add_argument("--threads", default="1", help="OMP_NUM_THREADS of the training run")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    value = json.loads((args.run / "metrics.json").read_text())[args.metric]
    log = args.run / "metrics.csv"
    epochs = (
        max((int(r["epoch"]) for r in csv.DictReader(open(log)) if r.get("train/loss")), default=-1)
        + 1
    )
    cpu = args.cpu_minutes or last_logged(log, "time/cpu_minutes")
    wall = args.wall_minutes or last_logged(log, "time/wall_minutes")
    row = [
        args.config, args.commit, args.seed, args.metric, f"{value:.4f}", str(epochs),
        f"{float(cpu):.1f}" if cpu else "", f"{float(wall):.1f}" if wall else "",
        f"{platform.machine()} {cpu_model()}, {os.cpu_count()} cores, {args.threads} thread(s)",
        date.today().isoformat(), args.note,
    ]  # fmt: skip
    append_run(Path("benchmarks/results") / f"{args.task}.tsv", row)
    print("\t".join(row))


if __name__ == "__main__":
    main()
