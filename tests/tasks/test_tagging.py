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
    assert {tag for tags in predictions for tag in tags} <= set(TAGS)
