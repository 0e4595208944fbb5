"""What the file-backed data modules share: encode the splits a stage needs, and serve them in
length-bucketed, DDP-aware batches."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets
import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from data_modules.batching import BucketBatchSampler
from data_modules.registry import cache_dir, get_spec, resolve_file
from nlptag.errors import NlptagError
from nlptag.hashing import sha256_of

STAGE_SPLITS = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",)}
"""The splits each Lightning stage reads."""


def cached_parse(
    path: Path, reader: str, parse: Callable[[], datasets.Dataset]
) -> datasets.Dataset:
    """``parse()`` of the file ``path``, saved under the cache and loaded from there next time.
    The key is ``reader`` (who read it, with which options) plus the file's SHA-256, so an edited
    file or other reading options parse again."""
    cached = cache_dir() / "parsed" / f"{reader}-{sha256_of(path)[:24]}"
    if (cached / "dataset_info.json").is_file():
        return datasets.load_from_disk(str(cached))
    parsed = parse()
    quiet = datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()  # a cache write is not work the user waits for
    try:
        parsed.save_to_disk(str(cached))
    finally:
        if not quiet:
            datasets.utils.enable_progress_bars()
    return parsed


def warn_unseen(
    source: object, what: str, counts: dict[str, int], total: int, module: pl.LightningDataModule
) -> None:
    """One warning line on stderr (once, on rank 0) naming the gold ``what`` (tags, labels) of
    an evaluation file that training never had and how many items carry them."""
    trainer = getattr(module, "trainer", None)
    if trainer is not None and not trainer.is_global_zero:
        return
    names = ", ".join(f"{name} ({count})" for name, count in counts.items())
    carried = sum(counts.values())
    items = "tokens" if what == "tags" else "texts"
    print(
        f"nlptag: warning: {source}: {carried} of {total} {items} carry {what} that the training "
        f"data does not have: {names}; the model cannot predict them, so they count as errors",
        file=sys.stderr,
    )


class EncodedOnAccess(Dataset):
    """``encode(items[i])`` computed when the DataLoader asks for example ``i``: under DDP each
    rank encodes only the examples of its own batches (``nlptag predict`` on a large file)."""

    def __init__(self, items: Sequence, encode: Callable[[Any], dict]) -> None:
        self.items = items
        self.encode = encode

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.encode(self.items[index])


class DataModule(pl.LightningDataModule):
    """The base of nlptag's data modules: a LightningDataModule whose ``str()`` is cheap."""

    def __str__(self) -> str:
        """The class and its hyperparameters. (Lightning's ``__str__`` builds every dataloader
        to count its examples, and jsonargparse formats the data module once per argument link:
        ``nlptag predict`` encoded its whole input 17 times before predicting.)"""
        return f"{type(self).__name__}({dict(self.hparams)})"


class EncodedSplitsDataModule(DataModule):
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

    def loader(
        self, examples: Sequence[dict], shuffle: bool, lengths: Sequence[int] | None = None
    ) -> DataLoader:
        """Batches of similar length; under DDP each rank gets its share (see
        :class:`BucketBatchSampler`). Evaluation keeps a fixed order. ``lengths``: the
        examples' lengths when ``examples`` encodes on access (:class:`EncodedOnAccess`)."""
        trainer = self.trainer
        batch_size = self.hparams.batch_size
        if not shuffle:
            batch_size = self.hparams.get("eval_batch_size", batch_size)
        if lengths is None:
            lengths = [self.example_length(example) for example in examples]
        sampler = BucketBatchSampler(
            lengths,
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

    def split_file(self, split: str) -> Path | None:
        """The file of a split: ``<split>_file`` if given, else the registered dataset's."""
        explicit = getattr(self.hparams, f"{split}_file")
        if explicit is not None:
            path = Path(explicit)
            if not path.is_file():
                raise NlptagError(f"data.{split}_file: {path} does not exist or is not a file")
            return path
        if self.hparams.dataset is None:
            return None
        files = get_spec(self.hparams.dataset).splits.get(split)
        return resolve_file(self.hparams.dataset, files[0]) if files else None

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
