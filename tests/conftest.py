"""Shared fixtures: tiny CoNLL-U files, an isolated cache, quiet single-threaded torch."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("NLPTAG_DATA_DIR", REPO.parent / "shared" / "data"))


def conllu(sentences: list[list[tuple[str, str]]]) -> str:
    """CoNLL-U text for sentences of (word, UPOS) pairs; XPOS is the UPOS lower-cased."""
    blocks = []
    for n, sentence in enumerate(sentences, start=1):
        lines = [f"# sent_id = s{n}", "# text = " + " ".join(w for w, _ in sentence)]
        for i, (word, tag) in enumerate(sentence, start=1):
            lines.append(f"{i}\t{word}\t_\t{tag}\t{tag.lower()}\t_\t_\t_\t_\t_")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own parse cache, and nothing is downloaded."""
    monkeypatch.setenv("NLPTAG_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("NLPTAG_OFFLINE", "1")


@pytest.fixture
def tiny_conllu(tmp_path) -> dict[str, Path]:
    """Train/validation/test files of a toy language where each word has one tag."""
    train = [
        [("the", "DET"), ("cat", "NOUN"), ("sleeps", "VERB")],
        [("a", "DET"), ("dog", "NOUN"), ("runs", "VERB"), (".", "PUNCT")],
        [("the", "DET"), ("dog", "NOUN"), ("sleeps", "VERB"), (".", "PUNCT")],
        [("a", "DET"), ("cat", "NOUN"), ("runs", "VERB")],
    ]
    held_out = [[("the", "DET"), ("cat", "NOUN"), ("runs", "VERB"), (".", "PUNCT")]]
    paths = {}
    for split, sentences in [("train", train), ("validation", held_out), ("test", held_out)]:
        paths[split] = tmp_path / f"{split}.conllu"
        paths[split].write_text(conllu(sentences), encoding="utf-8")
    return paths


def _toy_ner(n: int, seed: int) -> str:
    """CoNLL-2003-like columns (word POS chunk NER, IOB1): ann/bob are PER, paris/rome LOC."""
    generator = random.Random(seed)
    blocks = ["-DOCSTART- -X- -X- O"]
    for _ in range(n):
        lines = []
        for _ in range(generator.randint(2, 7)):
            kind = generator.choice(["O", "O", "PER", "LOC"])
            if kind == "O":
                lines.append(f"{generator.choice(['the', 'met', 'in', 'saw'])} X X O")
            else:
                names = ["ann", "bob"] if kind == "PER" else ["paris", "rome"]
                lines.append(f"{generator.choice(names)} X X I-{kind}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _fit(config: str, run: Path, *overrides: str) -> Path:
    from nlptag.cli import main

    status = main(
        ["fit", "--config", str(REPO / config), "--trainer.default_root_dir", str(run)]
        + ["--trainer.enable_model_summary=false", "--trainer.logger=false", *overrides]
    )
    assert status == 0
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    """Checkpoints of tiny models trained for a few steps with the shipped configs, one per task
    (``tagging`` with a char-BiLSTM, ``ner`` with a CRF, ``classification``, ``language_model``),
    and their data files; trained on first use."""
    root = tmp_path_factory.mktemp("tiny")
    made: dict[str, dict[str, Path]] = {}

    def make(task: str) -> dict[str, Path]:
        if task in made:
            return made[task]
        run = root / task
        run.mkdir()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("NLPTAG_CACHE_DIR", str(root / "cache"))
            patch.setenv("NLPTAG_OFFLINE", "1")
            files: dict[str, Path] = {}
            if task == "tagging":
                files["test"] = REPO / "nlptag" / "resources" / "demo" / "dev.conllu"
                bilstm = (
                    "{class_path: nlptag.models.embeddings.CharBiLSTM,"
                    " init_args: {char_dim: 8, hidden_size: 8}}"
                )
                args = [
                    "--trainer.max_epochs=2",
                    f"--model.init_args.embedder.init_args.char_features={bilstm}",
                ]
                files["checkpoint"] = _fit("configs/demo.yaml", run, *args)
            elif task == "ner":
                for split, (n, seed) in {"train": (120, 0), "test": (30, 1)}.items():
                    files[split] = run / f"{split}.txt"
                    files[split].write_text(_toy_ner(n, seed))
                args = [
                    f"--data.init_args.{s}_file={files[t]}"
                    for s, t in [("train", "train"), ("validation", "test"), ("test", "test")]
                ]
                args += [
                    "--data.init_args.dataset=null",
                    "--trainer.max_steps=6",
                    "--model.init_args.encoder.init_args.hidden_size=16",
                    "--model.init_args.embedder.init_args.word_dim=16",
                ]
                files["checkpoint"] = _fit("configs/ner/conll2003.yaml", run, *args)
            elif task == "classification":
                lines = ["sentence\tlabel"]
                generator = random.Random(0)
                for i in range(200):
                    tokens = generator.choices(["w1", "w2", "w3", "w4"], k=generator.randint(1, 6))
                    if i % 2:
                        tokens[generator.randrange(len(tokens))] = "great"
                    lines.append(f"{' '.join(tokens)}\t{'pos' if 'great' in tokens else 'neg'}")
                files["train"] = files["test"] = run / "train.tsv"
                files["train"].write_text("\n".join(lines) + "\n")
                args = [
                    f"--data.{s}_file={files['train']}" for s in ("train", "validation", "test")
                ]
                args += [
                    "--data.dataset=null",
                    "--trainer.max_steps=6",
                    "--trainer.max_time=null",
                    "--model.encoder.init_args.hidden_size=16",
                ]
                files["checkpoint"] = _fit("configs/sentiment/sst2.yaml", run, *args)
            else:
                files["train"] = files["test"] = run / "text.txt"
                files["train"].write_text(
                    "All:\nSpeak, speak. Before we proceed any further.\n" * 8
                )
                args = [
                    f"--data.train_file={files['train']}",
                    "--data.dataset=null",
                    "--data.batch_size=2",
                    "--data.bptt_steps=20",
                    "--trainer.max_steps=6",
                    "--model.network.init_args.hidden_size=16",
                ]
                files["checkpoint"] = _fit("configs/lm/tinyshakespeare_char.yaml", run, *args)
        made[task] = files
        return files

    return make
