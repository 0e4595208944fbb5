"""bf16 on the CPU against float32, side by side: training time and test metrics of the POS, NER
and translation configs.

For each config, two ``nlptag fit`` runs of the same epochs and seed start together, one with
``--trainer.precision 32-true`` and one with ``bf16-mixed``, each on one thread (one per core
of a 2-core machine, so both see the same machine state). Each trained checkpoint is then
tested with ``nlptag test`` at both precisions, one process at a time (bf16 inference of the
float32-trained model, and float32 inference of the bf16-trained one); the table gives the
test metric and the test process's wall seconds.

    NLPTAG_DATA_DIR=../shared/data python -m benchmarks.cpu_bf16 \\
        --out benchmarks/results/cpu_bf16.md

``--epochs`` (default 1), ``--task`` (default all three) and ``--checkpoint`` (``last``, the
default, or ``best`` by the config's validation metric) choose what runs and is tested. The
CPU must run PyTorch's bf16 LSTM (``nlptag fit`` refuses bf16 otherwise): the script says so
and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import commit, cpu_model, report, today
from benchmarks.record_run import append_run, last_logged
from nlptag.cli.hardware import bf16_lstm_runs, cpu_bf16_units

BASE = "configs/base/trainer.yaml"
TASKS = {
    "pos": ("POS", "configs/pos/ud_ewt.yaml", "test/acc"),
    "ner": ("NER", "configs/ner/conll2003.yaml", "test/f1"),
    "mt": ("translation", "configs/translation/multi30k_de_en.yaml", "test/bleu"),
}
PRECISIONS = ("32-true", "bf16-mixed")
CLOCK = ("time/wall_minutes", "time/cpu_minutes")


def nlptag(*args: str) -> list[str]:
    return [sys.executable, "-m", "nlptag.cli", *args]


def environment(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}


def train_pair(config: str, epochs: int, root: Path) -> dict[str, dict[str, float]]:
    """Both precisions trained at once, one thread each."""
    processes = {}
    for precision in PRECISIONS:
        run = root / precision
        command = nlptag("fit", "--config", BASE, "--config", config)
        command += ["--trainer.max_epochs", str(epochs), "--trainer.precision", precision]
        command += ["--trainer.default_root_dir", str(run)]
        log = (root / f"fit-{precision}.log").open("w", encoding="utf-8")
        processes[precision] = (
            subprocess.Popen(command, env=environment(1), stdout=log, stderr=log),
            log,
        )
    results = {}
    for precision, (process, log) in processes.items():
        if process.wait() != 0:
            raise SystemExit(f"nlptag fit ({precision}) failed: see {log.name}")
        log.close()
        log = root / precision / "metrics.csv"
        results[precision] = {key: float(last_logged(log, key)) for key in CLOCK}
    return results


def test(config: str, checkpoint: Path, precision: str, out: Path) -> tuple[dict, float]:
    """(test metrics, wall seconds of the ``nlptag test`` process)."""
    command = nlptag("test", "--config", BASE, "--config", config, "--ckpt_path", str(checkpoint))
    command += ["--trainer.precision", precision, "--trainer.default_root_dir", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, env=environment(1), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"nlptag test ({precision}) failed:\n{done.stderr[-2000:]}")
    return json.loads((out / "metrics.json").read_text(encoding="utf-8")), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", action="append", choices=list(TASKS), help="default: all")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--checkpoint", choices=["last", "best"], default="last")
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    parser.add_argument(
        "--record", type=Path, default=None, help="append every run to this results TSV"
    )
    args = parser.parse_args()
    units = cpu_bf16_units()
    if not bf16_lstm_runs():
        raise SystemExit(f"{cpu_model()}: PyTorch's bf16 LSTM does not run on this CPU")
    lines = [
        f"`python -m benchmarks.cpu_bf16 --epochs {args.epochs} --checkpoint {args.checkpoint}"
        + "".join(f" --task {task}" for task in args.task or [])
        + "`",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, native bf16: "
        f"{', '.join(units) if units else 'none'}; 1 thread per process, both trainings of a "
        f"config at once; commit {commit()}, {today()}.",
        "",
        f"| config | trained in | fit minutes (wall, CPU) | vs 32-true | tested in | test metric "
        f"({args.checkpoint}.ckpt) "
        "| test process seconds |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for task in args.task or list(TASKS):
        name, config, metric = TASKS[task]
        seed = yaml.safe_load(Path(config).read_text(encoding="utf-8"))["seed_everything"]
        with tempfile.TemporaryDirectory(prefix=f"bf16-{task}-") as scratch:
            root = Path(scratch)
            trained = train_pair(config, args.epochs, root)
            scores: dict[str, dict[str, float]] = {precision: {} for precision in PRECISIONS}
            plain = trained["32-true"]["time/wall_minutes"]
            for precision in PRECISIONS:
                clock = trained[precision]
                checkpoint = root / precision / "checkpoints" / f"{args.checkpoint}.ckpt"
                for tested_in in PRECISIONS:
                    metrics, seconds = test(
                        config, checkpoint, tested_in, root / f"t-{precision}-{tested_in}"
                    )
                    row = (
                        f"| `{config}` ({name}, {args.epochs} epoch(s)) | {precision} "
                        f"| {clock['time/wall_minutes']:.2f}, {clock['time/cpu_minutes']:.2f} "
                        f"| {plain / clock['time/wall_minutes']:.2f}x | {tested_in} "
                        f"| {metric} {metrics[metric]:.2f} | {seconds:.0f} |"
                    )
                    lines.append(row)
                    print(row, flush=True)
                    scores[precision][tested_in] = metrics[metric]
            if args.record:
                for precision in PRECISIONS:
                    clock = trained[precision]
                    note = (
                        f"{args.checkpoint}.ckpt, tested in 32-true "
                        f"({scores[precision]['bf16-mixed']:.2f} "
                        f"in bf16-mixed); benchmarks.cpu_bf16, trained at the same time as the "
                        "other precision"
                    )
                    append_run(
                        args.record,
                        [
                            f"{config} --trainer.precision {precision}", commit(), str(seed),
                            metric, f"{scores[precision]['32-true']:.2f}", str(args.epochs),
                            f"{clock['time/cpu_minutes']:.2f}", f"{clock['time/wall_minutes']:.2f}",
                            f"{platform.machine()} {cpu_model()}, {os.cpu_count()} cores, "
                            "1 thread(s)", today(), note,
                        ],
                    )  # fmt: skip
    report(lines, args.out)


if __name__ == "__main__":
    main()
