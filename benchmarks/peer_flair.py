"""nlptag against flair 0.15.1 on CoNLL-2003 NER, side by side in one run, at 1 and 2 threads.

Both tools train the same model (flair's default SequenceTagger; nlptag's copy is
``configs/ner/conll2003_flair.yaml``, whose header lists what cannot match) for the same epochs on
the same data, then tag CoNLL-2003 test (eng.testb) at batch 32 and 256. flair runs in its own
virtual environment through ``../shared/peers/flair/flair_tagger.py``; nlptag runs in this one.
Every measurement is a fresh process, in the order flair, nlptag at each thread count, so the
two tools see the same machine within minutes of each other.

- train tokens/s: training tokens of one epoch / seconds of the epoch's training, evaluation
  excluded (flair's own ``EPOCH_JSON`` figure; for nlptag from the first training batch to the
  start of the epoch-end validation).
- inference sentences/s: the whole test set through the tool's predictor (flair:
  ``SequenceTagger.predict`` on the live model; nlptag: ``nlptag.load`` on the exported bundle,
  entity confidences on), best of 3 passes, as flair_tagger.py measures it.

flair's interpreter is ``$NLPTAG_FLAIR_PYTHON``, else ``$NLPTAG_FLAIR_VENV/bin/python``
(default ``~/venv-flair``; ../shared/peers/flair/README.md says how to build it).

    NLPTAG_DATA_DIR=../shared/data python -m benchmarks.peer_flair \
        --out benchmarks/results/peer_flair.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import cli_from_config, commit, cpu_model, today

REPO = Path(__file__).resolve().parent.parent
PEER_SCRIPT = REPO.parent / "shared" / "peers" / "flair" / "flair_tagger.py"
CONFIGS = ["configs/base/trainer.yaml", "configs/ner/conll2003_flair.yaml"]
SPLITS = {"train": "eng.train", "validation": "eng.testa", "test": "eng.testb"}
BATCH_SIZES = (32, 256)
RESULT = "RESULT_JSON "


def flair_python() -> Path:
    """flair's interpreter, or a one-line exit saying how to get one."""
    given = os.environ.get("NLPTAG_FLAIR_PYTHON")
    venv = Path(os.environ.get("NLPTAG_FLAIR_VENV", Path.home() / "venv-flair"))
    python = Path(given) if given else venv / "bin" / "python"
    if not python.is_file():
        where = f"NLPTAG_FLAIR_PYTHON={given}" if given else f"NLPTAG_FLAIR_VENV={venv}"
        raise SystemExit(
            f"peer_flair: no flair interpreter at {python} ({where}); build flair's venv as "
            f"{PEER_SCRIPT.parent / 'README.md'} says, or point NLPTAG_FLAIR_PYTHON at one"
        )
    return python


def data_dir() -> Path:
    folder = Path(os.environ.get("NLPTAG_DATA_DIR", REPO.parent / "shared" / "data"))
    if not (folder / "conll2003" / SPLITS["train"]).is_file():
        where = folder / "conll2003"
        raise SystemExit(f"peer_flair: {where} holds no CoNLL-2003 (set NLPTAG_DATA_DIR)")
    return folder


def first_sentences(source: Path, target: Path, limit: int) -> None:
    """The lines of the first ``limit`` sentences of a CoNLL file, as flair_tagger.py's
    ``--limit`` keeps them (``-DOCSTART-`` lines dropped, as the reader drops them)."""
    from nlptag.text.readers import read_conll_columns

    lines = source.read_text(encoding="utf-8").splitlines()
    sentences = itertools.islice(read_conll_columns(source, 0, None, with_lines=True), limit)
    kept = ["\n".join(lines[n - 1] for n in s["lines"]) + "\n\n" for s in sentences]
    target.write_text("".join(kept), encoding="utf-8")


def last_result(output: str, what: str) -> dict:
    for line in reversed(output.splitlines()):
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    raise SystemExit(f"peer_flair: {what} printed no {RESULT.strip()} line:\n{output[-3000:]}")


def run_flair(threads: int, epochs: int, limit: int, data: Path, out: Path) -> dict:
    command = [str(flair_python()), str(PEER_SCRIPT), "--task", "ner", "--epochs", str(epochs)]
    command += ["--threads", str(threads), "--data-dir", str(data), "--out", str(out)]
    command += ["--limit", str(limit)] if limit else []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"peer_flair: flair failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = last_result(done.stdout, "flair")
    epochs_run = result["epochs"]
    return {
        "train_tokens_per_s": result["mean_train_tokens_per_s"],
        "train_s": sum(e["train_s"] for e in epochs_run),
        "dev_f1": 100 * epochs_run[-1]["dev_score"],
        "test_sentences": result["inference_test_set"]["sentences"],
        **{
            f"sentences_per_s_{b}": result["inference_test_set"][f"bs{b}"]["sentences_per_s"]
            for b in BATCH_SIZES
        },
    }


def run_nlptag(threads: int, epochs: int, limit: int, data: Path, out: Path) -> dict:
    command = [sys.executable, "-m", "benchmarks.peer_flair", "--worker", "--threads"]
    command += [str(threads), "--epochs", str(epochs), "--limit", str(limit), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NLPTAG_DATA_DIR": str(data)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"peer_flair: nlptag failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return last_result(done.stdout, "nlptag")


def worker(threads: int, epochs: int, limit: int, out: Path) -> None:
    """One nlptag measurement in this process: fit, export, tag the test set."""
    import torch
    from pytorch_lightning import Callback

    import nlptag
    from nlptag.inference.export import export
    from nlptag.text.readers import read_conll_columns

    torch.set_num_threads(threads)
    data = Path(os.environ["NLPTAG_DATA_DIR"]) / "conll2003"
    files = {split: data / name for split, name in SPLITS.items()}
    if limit:
        for split, source in list(files.items()):
            files[split] = out / source.name
            first_sentences(source, files[split], limit)

    class TrainTimer(Callback):
        """Seconds of each epoch's training: first batch to the epoch-end validation."""

        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.start: float | None = None

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.start = time.perf_counter()

        def _stop(self) -> None:
            if self.start is not None:
                self.seconds.append(time.perf_counter() - self.start)
                self.start = None

        def on_validation_start(self, trainer, pl_module) -> None:
            if not trainer.sanity_checking:
                self._stop()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self._stop()

    run_dir = out / "run"
    arguments = [CONFIGS[0], *(f"--config={config}" for config in CONFIGS[1:])]
    arguments += [f"--data.init_args.{split}_file={path}" for split, path in files.items()]
    arguments += ["--data.init_args.dataset=null", f"--trainer.max_epochs={epochs}"]
    arguments += [f"--trainer.default_root_dir={run_dir}", "--trainer.enable_progress_bar=false"]
    cli = cli_from_config(*arguments)
    timer = TrainTimer()
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    train_tokens = sum(len(s["tokens"]) for s in read_conll_columns(files["train"], 0, 3))
    dev_f1 = float(cli.trainer.callback_metrics["val/f1"])

    bundle = export(run_dir / "checkpoints" / "last.ckpt", out / "bundle")
    predictor = nlptag.load(bundle, threads=threads)
    sentences = [s["tokens"] for s in read_conll_columns(files["test"], 0, 3)]
    rates = {}

    def best_rate(tagger, batch_size: int) -> float:
        passes = []
        for _ in range(3):
            start = time.perf_counter()
            predicted = tagger.predict(sentences, batch_size=batch_size)
            passes.append(time.perf_counter() - start)
        assert len(predicted) == len(sentences) and "confidences" in predicted[0]
        return round(len(sentences) / min(passes), 1)

    int8 = nlptag.load(export(run_dir / "checkpoints" / "last.ckpt", out / "int8", quantize="int8"))
    for batch_size in BATCH_SIZES:
        rates[f"sentences_per_s_{batch_size}"] = best_rate(predictor, batch_size)
        rates[f"int8_sentences_per_s_{batch_size}"] = best_rate(int8, batch_size)
        seconds = min(word_lstm_alone(predictor.network, sentences, batch_size) for _ in range(3))
        rates[f"lstm_alone_sentences_per_s_{batch_size}"] = round(len(sentences) / seconds, 1)
    result = {
        "train_tokens_per_s": round(train_tokens * len(timer.seconds) / sum(timer.seconds), 1),
        "train_s": sum(timer.seconds),
        "dev_f1": dev_f1,
        "test_sentences": len(sentences),
        "encoder_run": predictor.network.encoder.inference_run,
        **rates,
    }
    print(RESULT + json.dumps(result), flush=True)


def word_lstm_alone(network, sentences: list[list[str]], batch_size: int) -> float:
    """Seconds the tagger's word BiLSTM alone takes over the sentences, in the predictor's
    length-sorted batches, run as the predictor's encoder runs them (packed or padded, its
    ``inference_run``): the ceiling of tagging speed."""
    import torch

    from nlptag.inference.predictors import length_sorted_batches

    encoder = network.encoder
    lengths = [len(s) for s in sentences]
    inputs = []
    for indices in length_sorted_batches(lengths, batch_size):
        size = torch.tensor([lengths[i] for i in indices])
        inputs.append((torch.randn(len(indices), int(size.max()), encoder.rnn.input_size), size))
    start = time.perf_counter()
    with torch.inference_mode():
        for x, size in inputs:
            encoder(x, size)
    return time.perf_counter() - start


def table(rows: list[dict], args: argparse.Namespace) -> str:
    limited = f", first {args.limit} sentences per split" if args.limit else ""
    command = "NLPTAG_DATA_DIR=../shared/data python -m benchmarks.peer_flair"
    command += f" --threads {' '.join(map(str, args.threads))} --epochs {args.epochs}"
    command += f" --limit {args.limit}" if args.limit else ""
    lines = [
        f"`{command}`; {os.cpu_count()} cores, {cpu_model()}; commit {commit()}, {today()}",
        "",
        f"CoNLL-2003, flair's default tagger in both tools ({', '.join(CONFIGS[1:])}), "
        f"{args.epochs} epoch(s){limited}; inference on the "
        f"{rows[0]['nlptag']['test_sentences']:,} test sentences, best of 3 passes. The "
        "ceiling rows time nlptag's word BiLSTM alone on the same batches: their ratio is the "
        "most any tagger running that kernel could reach over flair. The int8 rows tag with "
        "nlptag's int8 bundle of the same checkpoint (flair has no int8 mode), against "
        "flair's float32 tagging. nlptag's encoder and character BiLSTM ran "
        + ", ".join(f"{r['nlptag']['encoder_run']} at {r['threads']} thread(s)" for r in rows)
        + " (nlptag.load's default encoder_run).",
        "",
        "| threads | what | flair | nlptag | nlptag / flair |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    figures = [("train tokens/s", "train_tokens_per_s", ",.0f")]
    for size in BATCH_SIZES:
        figures.append((f"tagging sentences/s, batch {size}", f"sentences_per_s_{size}", ",.0f"))
    for size in BATCH_SIZES:
        name = f"tagging sentences/s, batch {size}, nlptag int8 (fixed ranges)"
        figures.append((name, f"int8_sentences_per_s_{size}", ",.0f"))
    for size in BATCH_SIZES:
        name = f"nlptag's word BiLSTM alone (the ceiling), batch {size}"
        figures.append((name, f"lstm_alone_sentences_per_s_{size}", ",.0f"))
    figures += [("dev F1 after the epochs (sanity check)", "dev_f1", ".2f")]
    for row in rows:
        for name, key, form in figures:
            ours = row["nlptag"][key]
            peer = row["flair"][key.removeprefix("lstm_alone_").removeprefix("int8_")]
            ratio = "" if key == "dev_f1" else f"{ours / peer:.2f}"
            shown = "" if key.startswith(("lstm_alone_", "int8_")) else f"{peer:{form}}"
            lines.append(f"| {row['threads']} | {name} | {shown} | {ours:{form}} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="first N sentences per split (0: all)")
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.threads[0], args.epochs, args.limit, args.out)
        return
    flair_python()  # before any work: say at once when the peer is missing
    data = data_dir()
    rows = []
    with tempfile.TemporaryDirectory(prefix="peer_flair.") as scratch:
        for threads in args.threads:
            row = {"threads": threads}
            for tool, run in (("flair", run_flair), ("nlptag", run_nlptag)):
                out = Path(scratch) / f"{tool}_{threads}"
                out.mkdir()
                print(f"peer_flair: {tool}, {threads} thread(s) ...", file=sys.stderr, flush=True)
                row[tool] = run(threads, args.epochs, args.limit, data, out)
                print(f"peer_flair: {tool}: {row[tool]}", file=sys.stderr, flush=True)
            rows.append(row)
    text = table(rows, args)
    print(text)
    if args.out:
        from nlptag.files import write_text_atomically

        write_text_atomically(args.out, text + "\n")


if __name__ == "__main__":
    main()
