"""Data module for sequence tagging: reads a dataset, owns its vocabularies, batches by length."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import datasets
from torch.utils.data import DataLoader

from data_modules.base import EncodedOnAccess, WordDataModule, cached_parse, warn_unseen
from data_modules.batching import collate_tagging
from data_modules.registry import get_spec
from nlptag.errors import DataFormatError, NlptagError, require_positive
from nlptag.text.encoding import encode_sentence
from nlptag.text.readers import TagColumn, read_conllu
from nlptag.text.tokenize import normalize_word
from nlptag.text.vocabulary import Vocabulary

SPLITS = ("train", "validation", "test")
__all__ = ["SPLITS", "TaggingDataModule", "encode_sentence", "normalize_word"]


class TaggingDataModule(WordDataModule):
    """Tagged sentences from a registered dataset, explicit files, or a HF hub dataset.

    Args:
        dataset: registry name (e.g. ``ud_en_ewt``); its files are found by ``resolve_file``.
        train_file: explicit training file; with validation_file / test_file it overrides
            the dataset's files of that split.
        validation_file: explicit validation file.
        test_file: explicit test file.
        predict_file: file to tag with ``nlptag predict`` (default: the test split).
        hub_dataset: a HF hub dataset id (or local dataset folder) read with
            ``datasets.load_dataset``; needs columns ``tokens`` and ``hub_tag_column``.
        hub_config: the hub dataset's configuration name.
        hub_tag_column: tag column of the hub dataset.
        tag_column: CoNLL-U column holding the tags (``upos`` or ``xpos``).
        batch_size: sentences per batch.
        min_word_freq: words seen fewer times in training map to ``<unk>``.
        lowercase: look words up lower-cased (character features still see the case).
        digits_to_zero: look words up with every digit replaced by 0.
        max_word_length: characters kept per word for character features.
        num_workers: data loader worker processes.
        seed: seed of the batch order.
    """

    def __init__(
        self,
        dataset: str | None = None,
        train_file: str | None = None,
        validation_file: str | None = None,
        test_file: str | None = None,
        predict_file: str | None = None,
        hub_dataset: str | None = None,
        hub_config: str | None = None,
        hub_tag_column: str = "upos",
        tag_column: TagColumn = "upos",
        batch_size: int = 32,
        min_word_freq: int = 2,
        lowercase: bool = False,
        digits_to_zero: bool = False,
        max_word_length: int = 30,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        require_positive("data", batch_size=batch_size, max_word_length=max_word_length)
        self.save_hyperparameters()
        self._splits: dict[str, datasets.Dataset] = {}
        self._encoded: dict[str, list[dict]] = {}
        self.words: Vocabulary | None = None
        self.chars: Vocabulary | None = None
        self.tags: Vocabulary | None = None
        self.unseen_tags: list[str] = []
        """Gold tags of evaluation splits that training never had, in order of appearance;
        the i-th gets the id ``len(tags) + i``, which the model cannot predict."""

    # --- reading ---------------------------------------------------------------------------
    def read_file(self, path: Path) -> Iterator[dict[str, list[str]]]:
        """Examples ``{"tokens", "tags"}`` of one file; subclasses read other formats."""
        return read_conllu(path, self.hparams.tag_column)

    def prepare_tags(self, tags: list[str]) -> list[str]:
        """Tags as the model is trained on them (NER converts between tag schemes here)."""
        return tags

    def cache_key(self) -> str:
        """The reading options that change what ``read_file`` returns (part of the cache key)."""
        return self.hparams.tag_column

    def load_split(self, split: str) -> datasets.Dataset | None:
        """The split as a ``datasets.Dataset``, parsed once and cached by file content."""
        if split in self._splits:
            return self._splits[split]
        # checked here, not in __init__: errors raised while jsonargparse instantiates a class
        # reach the user wrapped in a long union-type report
        h = self.hparams
        if h.dataset is None and h.hub_dataset is None and h.train_file is None:
            raise NlptagError(
                "data: give a dataset name (data.dataset), a hub dataset (data.hub_dataset) "
                "or files (data.train_file, data.validation_file, data.test_file)"
            )
        if h.dataset is not None:
            get_spec(h.dataset)
        if self.hparams.hub_dataset is not None and getattr(self.hparams, f"{split}_file") is None:
            loaded = self._load_hub_split(split)
        else:
            path = self.split_file(split)
            loaded = self._load_file(path) if path is not None else None
        self._splits[split] = loaded
        return loaded

    def _load_file(self, path: Path) -> datasets.Dataset:
        if path.stat().st_size == 0:
            raise DataFormatError(path, None, "the file is empty")
        return cached_parse(
            path, f"{type(self).__name__}-{self.cache_key()}", lambda: self._parse(path)
        )

    def _parse(self, path: Path) -> datasets.Dataset:
        examples = []
        for number, example in enumerate(self.read_file(path), start=1):
            try:
                examples.append(
                    {"tokens": example["tokens"], "tags": self.prepare_tags(example["tags"])}
                )
            except ValueError as error:
                raise DataFormatError(path, None, f"sentence {number}: {error}") from None
        if not examples:
            raise DataFormatError(path, None, "no sentences found")
        return datasets.Dataset.from_list(examples)

    def _load_hub_split(self, split: str) -> datasets.Dataset | None:
        hub = datasets.load_dataset(self.hparams.hub_dataset, self.hparams.hub_config)
        if split not in hub:
            return None
        part = hub[split]
        feature = part.features[self.hparams.hub_tag_column]
        names = getattr(getattr(feature, "feature", None), "names", None)
        return part.map(
            lambda example: {
                "tokens": example["tokens"],
                "tags": self.prepare_tags(
                    [names[t] for t in example[self.hparams.hub_tag_column]]
                    if names
                    else example[self.hparams.hub_tag_column]
                ),
            },
            remove_columns=part.column_names,
        )

    # --- vocabularies (built from the training split only) ------------------------------------
    def build_vocabularies(self) -> None:
        if self.words is not None:
            return
        train = self.load_split("train")
        if train is None:
            raise NlptagError("data: the vocabularies need a training split (data.train_file)")
        h = self.hparams
        self.words = Vocabulary.build(
            (
                normalize_word(token, h.lowercase, h.digits_to_zero)
                for tokens in train["tokens"]
                for token in tokens
            ),
            min_freq=self.hparams.min_word_freq,
        )
        self.chars = Vocabulary.build(
            char for tokens in train["tokens"] for token in tokens for char in token
        )
        self.tags = Vocabulary.build(
            (tag for tags in train["tags"] for tag in tags), specials=(), unk=None
        )

    @property
    def tag_names(self) -> list[str]:
        self.build_vocabularies()
        return list(self.tags.entries)

    @property
    def evaluation_tag_names(self) -> list[str]:
        """The tags of the gold ids: the model's tags, then :attr:`unseen_tags`."""
        return self.tag_names + self.unseen_tags

    def state_dict(self) -> dict[str, list[str]]:
        self.build_vocabularies()
        return {"words": self.words.entries, "chars": self.chars.entries, "tags": self.tags.entries}

    def load_state_dict(self, state: dict[str, list[str]]) -> None:
        self.words = Vocabulary(state["words"])
        self.chars = Vocabulary(state["chars"])
        self.tags = Vocabulary(state["tags"], unk=None)
        self.unseen_tags = []
        self._encoded.clear()

    # --- encoding and loading ------------------------------------------------------------------
    def encode(
        self, tokens: list[str], tags: list[str] | None = None, gold: Vocabulary | None = None
    ) -> dict[str, list]:
        """Ids of one sentence; ``gold`` (the training tags plus unseen ones) encodes ``tags``
        that training never had."""
        self.build_vocabularies()
        h = self.hparams
        return encode_sentence(
            tokens,
            self.words,
            self.chars,
            h.max_word_length,
            tags,
            gold or self.tags,
            h.lowercase,
            h.digits_to_zero,
        )

    def _gold_vocabulary(self, split: str, tags: list[list[str]]) -> Vocabulary:
        """The training tags plus the ones of ``split`` that training never had (added to
        :attr:`unseen_tags`, with one warning line naming them and their tokens)."""
        counts: dict[str, int] = {}
        for sentence in tags:
            for tag in sentence:
                if tag not in self.tags:
                    counts[tag] = counts.get(tag, 0) + 1
        if counts:
            self.unseen_tags += [tag for tag in counts if tag not in self.unseen_tags]
            source = self.split_file(split) or self.hparams.hub_dataset
            warn_unseen(source, "tags", counts, sum(len(sentence) for sentence in tags), self)
        return Vocabulary(self.tags.entries + self.unseen_tags, unk=None)

    def encoded_split(self, split: str) -> list[dict]:
        if split not in self._encoded:
            data = self.load_split(split)
            if data is None:
                raise NlptagError(f"data: no {split} split; set data.{split}_file")
            encoded = []
            self.build_vocabularies()
            gold = self._gold_vocabulary(split, data["tags"]) if split != "train" else self.tags
            for number, (tokens, tags) in enumerate(zip(data["tokens"], data["tags"]), start=1):
                try:
                    encoded.append(self.encode(tokens, tags, gold))
                except NlptagError as error:
                    source = self.split_file(split) or self.hparams.hub_dataset
                    raise NlptagError(f"{source}: sentence {number}: {error}") from None
            self._encoded[split] = encoded
        return self._encoded[split]

    collate = staticmethod(collate_tagging)

    def predict_examples(self) -> datasets.Dataset:
        if self.hparams.predict_file is not None:
            return self._load_file(Path(self.hparams.predict_file))
        data = self.load_split("test")
        if data is None:
            raise NlptagError("data: nothing to predict; set data.predict_file (or data.test_file)")
        return data

    def predict_dataloader(self) -> DataLoader:
        sentences = list(self.predict_examples()["tokens"])
        examples = EncodedOnAccess(sentences, self.encode)
        return self.loader(examples, shuffle=False, lengths=[len(s) for s in sentences])
