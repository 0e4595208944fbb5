"""What the file-backed data modules share: encode the splits a stage needs, and serve them in
length-bucketed, DDP-aware batches."""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from data_modules.batching import BucketBatchSampler

STAGE_SPLITS = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",)}
"""The splits each Lightning stage reads."""


class EncodedSplitsDataModule(pl.LightningDataModule):
    """A data module whose splits are lists of encoded examples (dicts of id lists).

    Subclasses define ``build_vocabularies()``, ``encoded_split(split)``, ``collate`` (examples ->
    batch), ``example_length(example)`` (what batches are bucketed by) and the hyperparameters
    ``batch_size``, ``seed`` and ``num_workers``; ``eval_batch_size`` is used for evaluation and
    prediction when they have it.
    """

    collate: Callable[[list[dict]], object]

    def build_vocabularies(self) -> None:
        raise NotImplementedError

    def encoded_split(self, split: str) -> list[dict]:
        raise NotImplementedError

    @staticmethod
    def example_length(example: dict) -> int:
        raise NotImplementedError

    def setup(self, stage: str) -> None:
        self.build_vocabularies()
        for split in STAGE_SPLITS.get(stage, ()):
            self.encoded_split(split)

    def loader(self, examples: list[dict], shuffle: bool) -> DataLoader:
        """Batches of similar length; under DDP each rank gets its share (see
        :class:`BucketBatchSampler`). Evaluation keeps a fixed order."""
        trainer = self.trainer
        batch_size = self.hparams.batch_size
        if not shuffle:
            batch_size = self.hparams.get("eval_batch_size", batch_size)
        sampler = BucketBatchSampler(
            [self.example_length(example) for example in examples],
            batch_size,
            shuffle=shuffle,
            seed=self.hparams.seed,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
        )
        return DataLoader(
            examples,
            batch_sampler=sampler,
            collate_fn=type(self).collate,
            num_workers=self.hparams.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.encoded_split("train"), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.encoded_split("validation"), shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.encoded_split("test"), shuffle=False)


class WordDataModule(EncodedSplitsDataModule):
    """A data module of word sequences with word and character vocabularies (``self.words``,
    ``self.chars``, built by ``build_vocabularies``); examples hold ``word_ids``."""

    @staticmethod
    def example_length(example: dict) -> int:
        return len(example["word_ids"])

    @property
    def num_words(self) -> int:
        """Word vocabulary size (linked into the model)."""
        self.build_vocabularies()
        return len(self.words)

    @property
    def num_chars(self) -> int:
        """Character vocabulary size (linked into the model)."""
        self.build_vocabularies()
        return len(self.chars)
