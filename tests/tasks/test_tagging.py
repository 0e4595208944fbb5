import math
import random
from functools import partial

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from data_modules.batching import collate_tagging
from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.tasks.tagging import SequenceTagger

TAGS = ["NEXT_IS_A", "OTHER"]


def toy_sentences(n: int, seed: int) -> list[dict]:
    """Words 2..5; a word's tag says whether the *next* word is word 2, so it needs context
    from the right (the backward direction of the encoder)."""
    generator = random.Random(seed)
    examples = []
    for _ in range(n):
        words = [generator.randint(2, 5) for _ in range(generator.randint(2, 9))]
        tags = [0 if i + 1 < len(words) and words[i + 1] == 2 else 1 for i in range(len(words))]
        examples.append({"word_ids": words, "char_ids": [[w] for w in words], "tag_ids": tags})
    return examples


def tagger(cell: str = "lstm") -> SequenceTagger:
    return SequenceTagger(
        num_words=6,
        num_chars=6,
        tag_names=TAGS,
        embedder=partial(WordEmbedder, word_dim=8, char_features=None, dropout=0.0, word_dropout=0),
        encoder=partial(RecurrentEncoder, cell=cell, hidden_size=16, num_layers=1, dropout=0.0),
        optimizer=partial(torch.optim.Adam, lr=0.02),
    )


def test_tagger_learns_a_task_that_needs_right_context():
    pl.seed_everything(0)
    model = tagger()
    train = DataLoader(toy_sentences(400, 0), batch_size=20, collate_fn=collate_tagging)
    held_out = DataLoader(toy_sentences(100, 1), batch_size=50, collate_fn=collate_tagging)
    trainer = pl.Trainer(
        max_epochs=6,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train)
    (metrics,) = trainer.test(model, held_out, verbose=False)
    assert metrics["test/acc"] == 100.0


def test_predict_step_returns_tag_names_per_token():
    model = tagger().eval()
    batch = collate_tagging(toy_sentences(3, 2))
    predictions = model.predict_step(batch, 0)
    assert [len(tags) for tags in predictions] == batch.lengths.tolist()
    # each tag is the argmax of the network's scores at that token
    with torch.no_grad():
        scores = model.network.scores(batch.words, batch.chars, batch.lengths)
    expected = [
        [TAGS[i] for i in row[:length].tolist()]
        for row, length in zip(scores.argmax(-1), batch.lengths.tolist())
    ]
    assert predictions == expected


def test_a_tagger_with_hand_set_weights_gives_the_scores_computed_by_hand():
    """1-d word embeddings e, a one-unit tanh RNN h_t = tanh(a e_t + r h_(t-1) + c) and a
    softmax head with scores (u h + v, -u h): every number by hand."""
    model = SequenceTagger(
        num_words=4,
        num_chars=2,
        tag_names=TAGS,
        embedder=partial(WordEmbedder, word_dim=1, char_features=None, dropout=0.0, word_dropout=0),
        encoder=partial(
            RecurrentEncoder,
            cell="rnn",
            hidden_size=1,
            num_layers=1,
            bidirectional=False,
            dropout=0,
        ),
    ).eval()
    e, a, r, c, u, v = [0.0, 0.3, 1.0, -1.5], 2.0, 0.5, 0.1, 3.0, -0.25
    network = model.network
    with torch.no_grad():
        network.embedder.word_embedding.weight.copy_(torch.tensor(e).unsqueeze(1))
        rnn = network.encoder.rnn
        rnn.weight_ih_l0.fill_(a)
        rnn.weight_hh_l0.fill_(r)
        rnn.bias_ih_l0.fill_(c)
        rnn.bias_hh_l0.zero_()
        network.head.projection.weight.copy_(torch.tensor([[u], [-u]]))
        network.head.projection.bias.copy_(torch.tensor([v, 0.0]))
    sentences = [[2, 3, 1], [3, 2]]
    expected = []
    for words in sentences:
        h, row = 0.0, []
        for w in words:
            h = math.tanh(a * e[w] + r * h + c)
            row.append([u * h + v, -u * h])
        expected.append(row + [[0.0 * u + v, 0.0]] * (3 - len(words)))  # padding: h = 0
    batch = collate_tagging(
        [{"word_ids": s, "char_ids": [[1]] * len(s), "tag_ids": [0] * len(s)} for s in sentences]
    )
    with torch.no_grad():
        scores = network.scores(batch.words, batch.chars, batch.lengths)
    torch.testing.assert_close(scores, torch.tensor(expected))
    # h: tanh(2.1) > 0 -> NEXT_IS_A; tanh(-2.9 + 0.5 tanh(2.1)) < 0 -> OTHER; ...
    predicted = model.predict_step(batch, 0)
    assert predicted == [
        [TAGS[0] if s[0] > s[1] else TAGS[1] for s in row[: len(words)]]
        for row, words in zip(expected, sentences)
    ]
    assert predicted == [["NEXT_IS_A", "OTHER", "NEXT_IS_A"], ["OTHER", "NEXT_IS_A"]]
