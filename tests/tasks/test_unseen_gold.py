"""A tag or label of the evaluation data that training never had is scored, not fatal: its gold
id is one the model cannot predict, so it counts as a model error in accuracy and, for NER, as a
missed entity of its own type, exactly as conlleval scores the same predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlptag.cli import main
from nlptag.metrics.conlleval import count_chunks, prf, read_pairs
from nlptag.text.readers import text_lines


def run(capsys, *args: str) -> tuple[str, str]:
    assert main(list(args)) == 0
    out, err = capsys.readouterr()
    return out, err


@pytest.fixture(scope="module")
def ner(tiny_checkpoints, tmp_path_factory) -> dict[str, Path]:
    """The tiny NER model's checkpoint and bundle, and a test file with MISC entities (a type
    training never had) and an ``E-LOC``-free IOB1 ``B-LOC`` start, no ``-DOCSTART-``."""
    files = tiny_checkpoints("ner")
    root = tmp_path_factory.mktemp("unseen_ner")
    lines = [line for line in text_lines(files["test"]) if not line.startswith("-DOCSTART-")]
    while lines and not lines[0].strip():
        lines.pop(0)
    changed = 0
    for i, line in enumerate(lines):
        if line.startswith("saw ") and changed < 6:
            lines[i] = "zed X X I-MISC" if changed % 2 else "saw X X I-MISC"
            changed += 1
    assert changed == 6
    test = root / "test.txt"
    test.write_text("\n".join(lines) + "\n")
    bundle = root / "bundle"
    assert main(["export", str(files["checkpoint"]), str(bundle)]) == 0
    return {"checkpoint": files["checkpoint"], "bundle": bundle, "test": test, "root": root}


def test_ner_unseen_type_is_scored_as_conlleval_scores_it(ner, capsys):
    capsys.readouterr()
    out, err = run(capsys, "evaluate", str(ner["bundle"]), str(ner["test"]))
    metrics = json.loads(out)
    warnings = [line for line in err.splitlines() if line.startswith("nlptag: warning:")]
    assert len(warnings) == 1 and "I-MISC" not in warnings[0] and "MISC" in warnings[0]
    assert "6 of " in warnings[0] and "test.txt" in warnings[0]

    tagged = ner["root"] / "tagged.txt"
    run(capsys, "tag", str(ner["bundle"]), str(ner["test"]), "-o", str(tagged))
    counts = count_chunks(read_pairs(text_lines(tagged), str(tagged)))
    assert counts.gold["MISC"] >= 3 and counts.correct["MISC"] == 0  # adjacent I-MISC merge
    precision, recall, f1 = prf(
        sum(counts.correct.values()), sum(counts.predicted.values()), sum(counts.gold.values())
    )
    assert metrics["test/f1"] == pytest.approx(f1, abs=1e-4)
    assert metrics["test/precision"] == pytest.approx(precision, abs=1e-4)
    assert metrics["test/recall"] == pytest.approx(recall, abs=1e-4)
    assert metrics["test/f1/MISC"] == 0.0 and metrics["test/recall/MISC"] == 0.0
    accuracy = 100 * counts.correct_tags / counts.tokens
    assert metrics["test/acc"] == pytest.approx(accuracy, abs=1e-3)  # conlleval's, IOB1


def test_ner_test_subcommand_scores_the_unseen_type(ner, tiny_checkpoints, capsys):
    files = tiny_checkpoints("ner")
    run_dir = ner["root"] / "run"
    run(
        capsys,
        "test",
        "--config",
        str(Path(__file__).resolve().parents[2] / "configs/ner/conll2003.yaml"),
        "--data.init_args.dataset=null",
        f"--data.init_args.train_file={files['train']}",
        f"--data.init_args.test_file={ner['test']}",
        f"--trainer.default_root_dir={run_dir}",
        "--trainer.logger=false",
        f"--ckpt_path={ner['checkpoint']}",
    )
    written = json.loads((run_dir / "metrics.json").read_text())
    out, _ = run(capsys, "evaluate", str(ner["bundle"]), str(ner["test"]))
    expected = json.loads(out)
    for key in ("test/f1", "test/precision", "test/recall", "test/acc", "test/f1/MISC"):
        assert written[key] == pytest.approx(expected[key], abs=1e-5)


def test_pos_unseen_tags_count_as_errors(tiny_checkpoints, tmp_path, capsys):
    files = tiny_checkpoints("tagging")
    text = files["test"].read_text().replace("\tNOUN\t", "\tNEWTAG\t", 4)
    test = tmp_path / "test.conllu"
    test.write_text(text)
    out, err = run(capsys, "evaluate", str(files["checkpoint"]), str(test))
    assert "4 of " in err and "NEWTAG (4)" in err
    tagged = tmp_path / "tagged.conllu"
    run(capsys, "tag", str(files["checkpoint"]), str(test), "-o", str(tagged))
    gold = [line.split("\t")[3] for line in text.splitlines() if line[:1].isdigit()]
    predicted = [line.split("\t")[3] for line in text_lines(tagged) if line[:1].isdigit()]
    accuracy = 100 * sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    assert "NEWTAG" not in predicted
    assert json.loads(out)["test/acc"] == pytest.approx(accuracy, abs=1e-4)


def test_classification_unseen_labels_count_as_errors(tiny_checkpoints, tmp_path, capsys):
    files = tiny_checkpoints("classification")
    rows = text_lines(files["train"])
    texts = rows[1:21]
    relabelled = [
        f"{text.split(chr(9))[0]}\t{'neutral' if i % 4 == 0 else text.split(chr(9))[1]}"
        for i, text in enumerate(texts)
    ]
    test = tmp_path / "test.tsv"
    test.write_text("\n".join([rows[0], *relabelled]) + "\n")
    out, err = run(capsys, "evaluate", str(files["checkpoint"]), str(test))
    assert "5 of 20 texts" in err and "neutral (5)" in err
    inputs = tmp_path / "texts.txt"
    inputs.write_text("\n".join(row.split("\t")[0] for row in relabelled) + "\n")
    predicted, _ = run(capsys, "classify", str(files["checkpoint"]), str(inputs))
    labels = [line.split("\t")[0] for line in predicted.splitlines()]
    gold = [row.split("\t")[1] for row in relabelled]
    accuracy = 100 * sum(g == p for g, p in zip(gold, labels, strict=True)) / len(gold)
    assert json.loads(out)["test/acc"] == pytest.approx(accuracy, abs=1e-4)
