"""``nlptag tag / classify / generate / evaluate`` on bundles, end to end."""

import io
import json

import pytest

import nlptag
from nlptag.cli import main
from nlptag.cli.evaluate import conlleval_main
from nlptag.inference.export import export


@pytest.fixture(scope="module")
def bundle(tiny_checkpoints, tmp_path_factory):
    """task -> (bundle directory, data files)."""

    def make(task: str):
        files = tiny_checkpoints(task)
        out = tmp_path_factory.mktemp("bundle") / task
        if not out.exists():
            export(files["checkpoint"], out)
        return out, files

    return make


def run(capsys, *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_tag_conllu_writes_conllu_with_the_predicted_tags(bundle, capsys, tmp_path):
    path, files = bundle("tagging")
    source = files["test"].read_text().splitlines()
    out = tmp_path / "tagged.conllu"
    run(capsys, "tag", str(path), str(files["test"]), "-o", str(out), "--batch-size", "3")
    tagged = out.read_text().splitlines()
    assert len(tagged) == len(source)
    sentences, predicted = [], []
    for before, after in zip(source, tagged):
        if not before or before.startswith("#"):
            assert after == before
            continue
        old, new = before.split("\t"), after.split("\t")
        assert old[:3] + old[4:] == new[:3] + new[4:]
        if old[0] == "1":
            sentences.append([])
            predicted.append([])
        sentences[-1].append(old[1])
        predicted[-1].append(new[3])
    assert predicted == [r["tags"] for r in nlptag.load(path).predict(sentences)]


def spans(tags: list[str]) -> set[tuple[str, int, int]]:
    """Entity spans (type, start, end) of an IOB1 or IOB2 sequence, by brute force and
    independently of nlptag: a span is a maximal run of tokens of one type in which only the
    first may be ``B-``; a ``B-`` or a change of type starts a new span (conlleval's rule)."""
    found, start = set(), None
    for i, tag in enumerate([*tags, "O"]):
        kind = tag.split("-", 1)[1] if tag != "O" else None
        previous = tags[i - 1].split("-", 1)[1] if i and tags[i - 1] != "O" else None
        if start is not None and (kind != previous or tag.startswith("B-")):
            found.add((previous, start, i))
            start = None
        if kind is not None and start is None:
            start = i
    return found


def test_spans_reference_counts_like_conlleval():
    assert spans(["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "B-ORG"]) == {
        ("PER", 0, 2),
        ("PER", 2, 3),
        ("LOC", 4, 5),
        ("ORG", 5, 6),
        ("ORG", 6, 7),
    }
    assert spans(["B-LOC", "I-LOC", "O", "I-LOC"]) == {("LOC", 0, 2), ("LOC", 3, 4)}


def test_tag_conll_columns_appends_the_prediction_for_conlleval(bundle, capsys, tmp_path):
    path, files = bundle("ner")
    out = tmp_path / "tagged.txt"
    run(capsys, "tag", str(path), str(files["test"]), "-o", str(out))
    lines = out.read_text().splitlines()
    source = files["test"].read_text().splitlines()
    assert [line.rsplit(" ", 1)[0] if line else "" for line in lines] == source
    assert lines[0] == "-DOCSTART- -X- -X- O O"
    # entity precision, recall and F1 counted here from the gold and predicted columns
    correct = predicted = gold = 0
    for block in out.read_text().strip().split("\n\n"):
        rows = [
            line.split(" ") for line in block.splitlines() if line.split(" ")[0] != "-DOCSTART-"
        ]
        gold_spans, predicted_spans = spans([r[-2] for r in rows]), spans([r[-1] for r in rows])
        correct += len(gold_spans & predicted_spans)
        predicted += len(predicted_spans)
        gold += len(gold_spans)
    assert gold > 20 and predicted > 0
    precision, recall = 100 * correct / predicted, 100 * correct / gold
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    assert conlleval_main([str(out)]) == 0
    report = capsys.readouterr().out.splitlines()
    assert report[0].endswith(
        f"with {gold} phrases; found: {predicted} phrases; correct: {correct}."
    )
    assert float(report[1].rsplit("FB1:", 1)[1]) == pytest.approx(f1, abs=0.005)
    metrics = json.loads(run(capsys, "evaluate", str(path), str(files["test"])))
    assert metrics["test/f1"] == pytest.approx(f1, abs=1e-4)
    assert metrics["test/precision"] == pytest.approx(precision, abs=1e-4)
    assert metrics["test/recall"] == pytest.approx(recall, abs=1e-4)


def test_tag_raw_text_from_stdin_as_conll_or_jsonl(bundle, capsys, monkeypatch):
    path, _ = bundle("ner")
    text = "ann met bob in paris\n\nthe rome\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    conll = run(capsys, "tag", str(path))
    blocks = conll.strip("\n").split("\n\n")
    assert [[line.split("\t")[0] for line in b.splitlines()] for b in blocks] == [
        ["ann", "met", "bob", "in", "paris"],
        ["the", "rome"],
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    rows = [
        json.loads(line) for line in run(capsys, "tag", str(path), "--format", "jsonl").splitlines()
    ]
    expected = nlptag.load(path).predict(["ann met bob in paris", "the rome"])
    assert rows == json.loads(json.dumps(expected))
    assert [line.split("\t")[1] for line in blocks[0].splitlines()] == rows[0]["tags"]
    assert all(
        {"type", "start", "end", "text", "confidence"} == set(e) for e in rows[0]["entities"]
    )


def test_classify_writes_label_probability_text(bundle, capsys, tmp_path):
    path, _ = bundle("classification")
    texts = ["w1 great w2", "w3 w4", "great"]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n\n")
    lines = run(capsys, "classify", str(path), str(tmp_path / "in.txt")).splitlines()
    expected = nlptag.load(path).predict(texts)
    assert [line.split("\t") for line in lines] == [
        [r["label"], f"{r['probability']:.6f}", text] for r, text in zip(expected, texts)
    ]


def test_generate_from_a_bundle_is_reproducible(bundle, capsys):
    path, _ = bundle("language_model")
    first = run(capsys, "generate", str(path), "--prime", "All", "--length", "25", "--seed", "4")
    again = run(capsys, "generate", str(path), "--prime", "All", "--length", "25", "--seed", "4")
    assert first == again and first.startswith("All") and len(first) == 3 + 25 + 1


@pytest.mark.parametrize(
    ("task", "config"),
    [
        ("tagging", "configs/demo.yaml"),
        ("classification", "configs/sentiment/sst2.yaml"),
        ("ner", "configs/ner/conll2003.yaml"),
        ("language_model", "configs/lm/tinyshakespeare_char.yaml"),
    ],
)
def test_evaluate_equals_nlptag_test(bundle, capsys, tmp_path, task, config):
    path, files = bundle(task)
    evaluated = json.loads(run(capsys, "evaluate", str(path), str(files["test"])))
    checkpoint = files["checkpoint"]
    test_args = ["test", "--config", config, "--trainer.default_root_dir", str(tmp_path)]
    test_args += ["--data.init_args.test_file", str(files["test"]), "--ckpt_path", str(checkpoint)]
    if task != "tagging":
        test_args += [
            "--data.init_args.dataset=null",
            f"--data.init_args.train_file={files['train']}",
        ]
    if task == "language_model":  # the tiny model's data settings (evaluate reads the bundle's)
        test_args += ["--data.init_args.batch_size=2", "--data.init_args.bptt_steps=20"]
    run(capsys, *test_args)
    tested = json.loads((tmp_path / "metrics.json").read_text())
    assert evaluated == tested
    key = {"ner": "test/f1", "language_model": "test/loss"}.get(task, "test/acc")
    assert key in evaluated


def test_a_bundle_of_another_task_is_refused(bundle, capsys):
    path, _ = bundle("classification")
    assert main(["tag", str(path), "--text", "a b"]) == 2
    assert "not a tagger" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["tagging", "classification"])
def test_several_processes_write_what_one_process_writes(
    bundle, capsys, tmp_path, monkeypatch, task
):
    """--processes 2 on 1,300 inputs (3 chunks of 512 over 2 worker processes): the same file
    as one process, in input order."""
    from nlptag.inference import parallel

    calls = []
    original = parallel.predict_in_processes

    def counted(*args, **kwargs):
        calls.append(args[3])  # processes
        return original(*args, **kwargs)

    monkeypatch.setattr(parallel, "predict_in_processes", counted)
    path, files = bundle(task)
    if task == "tagging":
        blocks = files["test"].read_text().strip().split("\n\n")
        text = "\n\n".join(blocks[i % len(blocks)] for i in range(1300)) + "\n"
        source = tmp_path / "big.conllu"
    else:
        rows = [line for line in files["test"].read_text().splitlines()[1:] if line.strip()]
        text = "\n".join(rows[i % len(rows)].split("\t")[0] for i in range(1300)) + "\n"
        source = tmp_path / "big.txt"
    source.write_text(text)
    command = "tag" if task == "tagging" else "classify"
    outputs = {}
    for processes in ("1", "2"):
        out = tmp_path / f"out{processes}"
        run(capsys, command, str(path), str(source), "-o", str(out), "--processes", processes)
        outputs[processes] = out.read_text()
    assert outputs["1"] == outputs["2"] and len(outputs["1"].splitlines()) >= 1300
    assert calls == [2]  # one process ran in this process, two in workers


def test_processes_must_be_a_positive_number(bundle, capsys):
    path, _ = bundle("tagging")
    assert main(["tag", str(path), "--text", "a b", "--processes", "0"]) == 2
    assert "--processes" in capsys.readouterr().err


def test_a_worker_that_cannot_load_the_bundle_raises_instead_of_hanging(tmp_path):
    from nlptag.errors import NlptagError
    from nlptag.inference.parallel import predict_in_processes

    with pytest.raises(NlptagError, match="does not exist"):
        predict_in_processes(tmp_path / "missing", [["a"]] * 3, 2, 2, chunk_size=1)
    with pytest.raises(ValueError, match="at least 1"):
        predict_in_processes(tmp_path / "missing", [["a"]], 2, 0)
