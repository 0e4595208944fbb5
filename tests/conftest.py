"""Shared fixtures: tiny CoNLL-U files, an isolated cache, quiet single-threaded torch."""

from __future__ import annotations

import os
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
