import itertools
import random
from functools import partial

import pytest
import pytorch_lightning as pl
import torch

from data_modules.batching import collate_tagging
from data_modules.conll import NERDataModule
from nlptag.errors import NlptagError
from nlptag.models.crf import CRFHead
from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.tasks.ner import EntityTagger

FILLER = ["the", "met", "in", "saw", "and", "today"]


def toy_conll(n: int, seed: int) -> str:
    """IOB1 sentences: ann/bob are PER, paris and 'new york' are LOC; adjacent LOCs get B-LOC."""
    generator = random.Random(seed)
    blocks = []
    for _ in range(n):
        lines, previous = [], "O"
        for _ in range(generator.randint(3, 8)):
            kind = generator.choice(["O", "O", "PER", "LOC1", "LOC2"])
            if kind == "O":
                lines.append(f"{generator.choice(FILLER)} O")
                previous = "O"
            elif kind == "PER":
                lines.append(f"{generator.choice(['ann', 'bob'])} I-PER")
                previous = "O"  # names never touch each other below: filler follows
                lines.append("said O")
            else:
                prefix = "B" if previous == "LOC" else "I"
                words = ["paris"] if kind == "LOC1" else ["new", "york"]
                lines += [f"{words[0]} {prefix}-LOC"] + [f"{w} I-LOC" for w in words[1:]]
                previous = "LOC"
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


@pytest.fixture
def toy_data(tmp_path):
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    train.write_text(toy_conll(300, 0))
    test.write_text(toy_conll(60, 1))
    data = NERDataModule(
        train_file=str(train), validation_file=str(test), test_file=str(test), batch_size=16
    )
    return data


def entity_tagger(data: NERDataModule, **head_kwargs) -> EntityTagger:
    return EntityTagger(
        num_words=data.num_words,
        num_chars=data.num_chars,
        tag_names=data.tag_names,
        data_scheme=data.data_scheme,
        tag_scheme=data.tag_scheme,
        embedder=partial(WordEmbedder, word_dim=16, char_features=None, dropout=0.0),
        encoder=partial(RecurrentEncoder, hidden_size=16, num_layers=1, dropout=0.0),
        head=partial(CRFHead, scheme="iobes", **head_kwargs),
        optimizer=partial(torch.optim.Adam, lr=0.03),
    )


def test_crf_tagger_learns_toy_ner_and_predicts_entities_with_confidence(toy_data):
    pl.seed_everything(0)
    model = entity_tagger(toy_data)
    trainer = pl.Trainer(
        max_epochs=5,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, toy_data)
    (metrics,) = trainer.test(model, toy_data, verbose=False)
    assert metrics["test/f1"] == 100.0
    assert metrics["test/f1/LOC"] == 100.0 and metrics["test/f1/PER"] == 100.0

    tokens = ["bob", "said", "paris", "new", "york", "today"]
    batch = collate_tagging([toy_data.encode(tokens)])
    (result,) = model.eval().predict_step(batch, 0)
    assert result["tags"] == ["I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "O"]  # IOB1, as the data
    assert [(e["type"], e["start"], e["end"]) for e in result["entities"]] == [
        ("PER", 0, 1),
        ("LOC", 2, 3),
        ("LOC", 3, 5),
    ]
    assert_confidences_are_brute_force_marginals(model, batch, result)


def brute_force_marginals(model: EntityTagger, batch) -> tuple[list[int], torch.Tensor]:
    """The best tag sequence and the marginals (T, C) of one sentence, by enumerating every tag
    sequence the CRF allows: p(y) = exp(score(y)) / sum over allowed y' of exp(score(y'))."""
    with torch.no_grad():
        (emissions,) = model.network.scores(batch.words, batch.chars, batch.lengths)
    crf = model.network.head.crf
    steps, num_tags = emissions.shape
    best, best_score, weights, paths = None, -float("inf"), [], []
    for path in itertools.product(range(num_tags), repeat=steps):
        if not crf.allowed_start[path[0]] or not crf.allowed_end[path[-1]]:
            continue
        if not all(crf.allowed_transitions[a, b] for a, b in zip(path, path[1:])):
            continue
        score = crf.start[path[0]] + crf.end[path[-1]]
        score = score + sum(emissions[t, tag] for t, tag in enumerate(path))
        score = score + sum(crf.transitions[a, b] for a, b in zip(path, path[1:]))
        score = float(score)
        paths.append(path)
        weights.append(score)
        if score > best_score:
            best, best_score = list(path), score
    probabilities = torch.tensor(weights, dtype=torch.float64).softmax(0)
    marginals = torch.zeros(steps, num_tags, dtype=torch.float64)
    for path, probability in zip(paths, probabilities):
        for t, tag in enumerate(path):
            marginals[t, tag] += probability
    return best, marginals


def assert_confidences_are_brute_force_marginals(model, batch, result) -> None:
    best, marginals = brute_force_marginals(model, batch)
    assert result["tags"] == model.to_data_scheme(best)
    assert result["entities"]
    for entity in result["entities"]:
        tokens = range(entity["start"], entity["end"])
        expected = sum(float(marginals[t, best[t]]) for t in tokens) / len(tokens)
        assert entity["confidence"] == pytest.approx(expected, abs=1e-5)


def test_entity_confidence_is_the_mean_crf_marginal_of_its_tokens(toy_data):
    """On an untrained tagger with random CRF scores, so that marginals are far from 1: three
    tokens, 9 IOBES tags, the 729 tag sequences enumerated."""
    toy_data.setup("fit")
    torch.manual_seed(3)
    model = entity_tagger(toy_data).eval()
    crf = model.network.head.crf
    with torch.no_grad():
        for parameter in (crf.start, crf.transitions, crf.end):
            parameter.normal_(0, 1)
        model.network.head.projection.weight.mul_(8)
    batch = collate_tagging([toy_data.encode(["bob", "paris", "york"])])
    (result,) = model.predict_step(batch, 0)
    assert any(e["confidence"] < 0.9 for e in result["entities"])
    assert_confidences_are_brute_force_marginals(model, batch, result)


def test_head_scheme_must_match_the_data():
    with pytest.raises(NlptagError, match="model.head.init_args.scheme is 'iob1'"):
        EntityTagger(
            tag_names=["O", "B-PER", "I-PER"],
            tag_scheme="iob2",
            head=partial(CRFHead, scheme="iob1"),
        )
