"""``nlptag predict`` on 1 and 2 processes of one machine (Lightning's DDP strategy, gloo), and
``nlptag tag --processes`` on 1 and 2.

Trains a checkpoint of the config for a few steps (the speed of prediction does not depend on
the weights), then tags one large CoNLL-U file (EWT train, 4 times over by default) with
``--trainer.devices 1`` and with ``--trainer.devices 2 --trainer.strategy ddp``, one thread
per process, and checks that both write the same ``predictions.jsonl``; then exports the
checkpoint and tags the same file with ``nlptag tag BUNDLE FILE`` on one process with one and
with two threads, and with ``--processes 2`` (one thread each), and checks that the three
outputs are the same. Times are the wall time of the whole command (start-up, vocabulary,
model loading and, for ``predict``, the gather of the predictions on rank 0 included).

    NLPTAG_DATA_DIR=../shared/data python -m benchmarks.predict_scale \
        --out benchmarks/results/predict_scale.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import commit, cpu_model, today
from nlptag.files import write_text_atomically

REPO = Path(__file__).resolve().parent.parent
BASE = ["--config", "configs/base/trainer.yaml"]


def configs(config: str) -> list[str]:
    """The --config chain of a task config (the fast POS config overrides the accurate one)."""
    chain = ["configs/pos/ud_ewt.yaml"] if config.endswith("ud_ewt_fast.yaml") else []
    return BASE + [arg for c in [*chain, config] for arg in ("--config", c)]


def run(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/pos/ud_ewt_fast.yaml")
    data_dir = Path(os.environ.get("NLPTAG_DATA_DIR", "../shared/data"))
    parser.add_argument("--input", default=str(data_dir / "ud_en_ewt" / "en_ewt-ud-train.conllu"))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=4, help="the input this many times over")
    parser.add_argument("--out", help="also write the table to this Markdown file")
    args = parser.parse_args()
    if not Path(args.input).is_file():
        sys.exit(f"--input {args.input}: no such file (set NLPTAG_DATA_DIR)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    blocks = Path(args.input).read_text(encoding="utf-8").strip().split("\n\n")
    sentences = len(blocks) * args.repeat
    cli = [sys.executable, "-m", "nlptag.cli"]
    with tempfile.TemporaryDirectory() as folder:
        predict_file = Path(folder) / "input.conllu"
        predict_file.write_text("\n\n".join(blocks * args.repeat) + "\n", encoding="utf-8")
        train = Path(folder) / "train"
        run(
            cli
            + ["fit", *configs(args.config), f"--trainer.default_root_dir={train}"]
            + ["--trainer.max_steps=20", "--trainer.limit_val_batches=2"]
            + ["--trainer.enable_model_summary=false"],
            env,
        )
        outputs, walls = {}, {}
        for processes in (1, 2):
            out = Path(folder) / f"predict{processes}"
            walls[processes] = run(
                cli
                + ["predict", *configs(args.config), f"--trainer.default_root_dir={out}"]
                + ["--ckpt_path", str(train / "checkpoints" / "last.ckpt")]
                + [f"--data.init_args.predict_file={predict_file}"]
                + [f"--data.init_args.batch_size={args.batch_size}"]
                + ["--trainer.accelerator=cpu", f"--trainer.devices={processes}"]
                + (["--trainer.strategy=ddp"] if processes > 1 else []),
                env,
            )
            outputs[processes] = (out / "predictions.jsonl").read_bytes()
        bundle = Path(folder) / "bundle"
        run(cli + ["export", str(train / "checkpoints" / "last.ckpt"), str(bundle)], env)
        tagged, tag_walls = {}, {}
        for processes, threads in ((1, 1), (1, 2), (2, 1)):
            out = Path(folder) / f"tagged{processes}-{threads}.conllu"
            tag_walls[processes, threads] = run(
                cli
                + ["tag", str(bundle), str(predict_file), "-o", str(out)]
                + ["--batch-size", str(args.batch_size), "--processes", str(processes)],
                {**env, "OMP_NUM_THREADS": str(processes * threads)},
            )
            tagged[processes, threads] = out.read_bytes()
    if outputs[1] != outputs[2]:
        sys.exit("the 2-process predictions.jsonl differs from the 1-process one")
    if len(set(tagged.values())) != 1:
        sys.exit("nlptag tag wrote different files with different processes or threads")
    lines = [
        f"`nlptag predict` of `{args.config}` on `{Path(args.input).name}` {args.repeat} times "
        f"over ({sentences:,} sentences, batch {args.batch_size}), one thread per process; "
        f"{cpu_model()}, "
        f"{os.cpu_count()} cores; then `nlptag tag` of its bundle on the same file; commit "
        f"{commit()}; {today()}. The outputs of each command are identical.",
        "",
        "| command | processes | threads per process | wall s (whole command) | sentences/s "
        "| speed-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for processes in (1, 2):
        lines.append(
            f"| `nlptag predict` | {processes} | 1 | {walls[processes]:.1f} | "
            f"{sentences / walls[processes]:,.0f} | {walls[1] / walls[processes]:.2f} |"
        )
    for (processes, threads), wall in tag_walls.items():
        lines.append(
            f"| `nlptag tag` | {processes} | {threads} | {wall:.1f} | {sentences / wall:,.0f} | "
            f"{tag_walls[1, 1] / wall:.2f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        write_text_atomically(Path(args.out), table)


if __name__ == "__main__":
    main()
