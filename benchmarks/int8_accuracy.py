"""What int8 costs in accuracy: a checkpoint exported as a float and as an int8 bundle, both scored
on a labelled file by ``nlptag evaluate``, plus how many tags of the int8 tagger change with the
batch a sentence is in (dynamic quantization picks the activation range per batch).

    python -m benchmarks.int8_accuracy --out benchmarks/results/int8_accuracy.md \\
        runs/pos_fast_s1/checkpoints/best.ckpt:../shared/data/ud_en_ewt/en_ewt-ud-test.conllu

Each argument is ``CHECKPOINT:FILE``; the metric is the task's first ``test/`` metric.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

from benchmarks.common import commit, cpu_model, today
from nlptag.files import write_text_atomically

METRICS = ("test/f1", "test/acc", "test/bleu", "test/loss")  # the main one first


def batch_changes(bundle: Path, file: str) -> tuple[int, int] | None:
    """(tags that differ between batch 1 and batch 32, tokens) for a tagger bundle; None for
    other tasks."""
    import nlptag
    from nlptag.text.readers import read_conll_columns, read_conllu

    predictor = nlptag.load(bundle)
    if predictor.task not in ("tagging", "ner"):
        return None
    reader = read_conllu if file.endswith(".conllu") else read_conll_columns
    sentences = [sentence["tokens"] for sentence in reader(file)]
    alone = predictor.predict(sentences, batch_size=1)
    batched = predictor.predict(sentences, batch_size=32)
    changed = sum(
        a != b for one, many in zip(alone, batched) for a, b in zip(one["tags"], many["tags"])
    )
    return changed, sum(len(sentence) for sentence in sentences)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", help="CHECKPOINT:FILE")
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    args = parser.parse_args()
    from nlptag.cli.evaluate import evaluate
    from nlptag.inference.export import export

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    rows = []
    for pair in args.pairs:
        checkpoint, file = pair.split(":", 1)
        with tempfile.TemporaryDirectory() as scratch:
            scores = {}
            for mode in ("float32", "int8"):
                bundle = export(
                    checkpoint, Path(scratch) / mode, quantize="int8" if mode == "int8" else None
                )
                scores[mode] = evaluate(bundle, file)
            changes = batch_changes(Path(scratch) / "int8", file)
        metric = next(name for name in METRICS if name in scores["float32"])
        plain, small = scores["float32"][metric], scores["int8"][metric]
        moved = "n/a" if changes is None else f"{changes[0]:,} of {changes[1]:,} tokens"
        rows.append(
            f"| `{checkpoint}` | {Path(file).name}, {metric} | {plain:.2f} | {small:.2f} "
            f"| {small - plain:+.2f} | {moved} |"
        )
        print(rows[-1], flush=True)
    text = "\n".join(
        [
            f"`python -m benchmarks.int8_accuracy {' '.join(args.pairs)}`",
            "",
            f"Machine: {cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
            f"thread(s); torch {torch.__version__}; commit {commit()}, {today()}.",
            "",
            "| checkpoint | file, metric | float32 | int8 | change | int8 tags that change "
            "between batch 1 and 32 |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )
    print(text)
    if args.out:
        write_text_atomically(args.out, text + "\n")


if __name__ == "__main__":
    main()
