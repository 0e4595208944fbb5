"""Data module for text classification: delimited text files (TSV, CSV, JSON lines) with a text
column and a label column; owns the word, character and label vocabularies; batches by length.

Shapes: ``B`` batch, ``T`` longest text in tokens, ``L`` longest word in characters.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import datasets
from torch.utils.data import DataLoader

from data_modules.base import WordDataModule, cached_parse, warn_unseen
from data_modules.registry import get_spec
from nlptag.errors import DataFormatError, NlptagError, require_positive
from nlptag.text.encoding import collate_classification, encode_text
from nlptag.text.readers import FileFormat, read_rows, text_lines
from nlptag.text.tokenize import Tokenizer, tokenize
from nlptag.text.vocabulary import Vocabulary

_EXTENSIONS: dict[str, FileFormat] = {
    ".tsv": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def _label_order(label: str) -> tuple[int, int | str]:
    """Integer labels in numeric order, then the others alphabetically."""
    return (0, int(label)) if label.lstrip("-").isdigit() else (1, label)


class ClassificationDataModule(WordDataModule):
    """Labelled texts from a registered dataset (``sst2``) or explicit TSV, CSV or JSONL files.

    TSV and CSV files start with a header naming the columns; JSON lines files hold one object
    per line. A test or predict file without the label column is read as unlabelled: it can be
    predicted, not tested (GLUE's SST-2 test set is such a file).

    Args:
        dataset: registry name (e.g. ``sst2``); its files are found by ``resolve_file``.
        train_file: explicit training file; with validation_file / test_file it overrides
            the dataset's file of that split.
        validation_file: explicit validation file.
        test_file: explicit test file.
        predict_file: file to label with ``nlptag predict`` (default: the test split).
        format: file format; by default taken from each file's extension (``.tsv``, ``.csv``,
            ``.jsonl``).
        text_column: column (or JSON field) holding the text.
        label_column: column (or JSON field) holding the label.
        tokenizer: ``whitespace`` splits at whitespace (right for pre-tokenised text such as
            SST-2); ``regex`` takes every match of ``token_pattern``.
        token_pattern: the ``regex`` tokenizer's token pattern.
        lowercase: lower-case texts before tokenising.
        max_length: texts are cut to this many tokens (``None``: no limit).
        batch_size: texts per batch.
        min_word_freq: words seen fewer times in training map to ``<unk>``.
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
        format: FileFormat | None = None,
        text_column: str = "sentence",
        label_column: str = "label",
        tokenizer: Tokenizer = "whitespace",
        token_pattern: str = r"\w+|[^\w\s]",
        lowercase: bool = False,
        max_length: int | None = None,
        batch_size: int = 32,
        min_word_freq: int = 1,
        max_word_length: int = 30,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if dataset is None and train_file is None:
            raise NlptagError(
                "data: give a dataset name (data.dataset) or files "
                "(data.train_file, data.validation_file, data.test_file)"
            )
        if dataset is not None:
            get_spec(dataset)  # fail early on an unknown name
        require_positive(
            "data", max_length=max_length, batch_size=batch_size, max_word_length=max_word_length
        )
        self.save_hyperparameters()
        self._splits: dict[str, datasets.Dataset] = {}
        self._encoded: dict[str, list[dict]] = {}
        self.words: Vocabulary | None = None
        self.chars: Vocabulary | None = None
        self.labels: Vocabulary | None = None
        self.unseen_labels: list[str] = []
        """Gold labels of evaluation splits that training never had, in order of appearance;
        the i-th gets the id ``len(labels) + i``, which the model cannot predict."""

    # --- reading ---------------------------------------------------------------------------
    def file_format(self, path: Path) -> FileFormat:
        if self.hparams.format is not None:
            return self.hparams.format
        found = _EXTENSIONS.get(path.suffix.lower())
        if found is None:
            raise NlptagError(
                f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                "set data.format to tsv, csv or jsonl"
            )
        return found

    def read_file(self, path: Path) -> Iterator[dict]:
        """Examples ``{"tokens", "label", "line"}`` of one file; ``label`` is ``None`` in a file
        without the label column."""
        hp = self.hparams
        file_format = self.file_format(path)
        labelled = self._has_label_column(path, file_format)
        columns = (hp.text_column, hp.label_column) if labelled else (hp.text_column,)
        for line, row in read_rows(path, file_format, columns):
            text = row[hp.text_column]
            if not isinstance(text, str):
                raise DataFormatError(path, line, f"{hp.text_column!r} is not a string")
            tokens = tokenize(text, hp.tokenizer, hp.token_pattern, hp.lowercase)
            if not tokens:
                raise DataFormatError(path, line, f"the text ({hp.text_column!r}) is empty")
            label = row[hp.label_column] if labelled else None
            if isinstance(label, dict | list | bool):
                raise DataFormatError(
                    path, line, f"the label ({hp.label_column!r}) is not a string or a number"
                )
            if labelled and (label is None or str(label).strip() == ""):
                raise DataFormatError(path, line, f"the label ({hp.label_column!r}) is empty")
            yield {
                "tokens": tokens,
                "label": str(label).strip() if labelled else None,
                "line": line,
            }

    def _has_label_column(self, path: Path, file_format: FileFormat) -> bool:
        """Whether the file has labels: the header names the label column (TSV, CSV), or the
        first object has the label field (JSONL)."""
        first = next((line for line in text_lines(path) if line.strip()), None)
        if first is None:
            raise DataFormatError(path, 1, "the file is empty")
        if file_format == "jsonl":
            try:
                return self.hparams.label_column in json.loads(first)
            except (json.JSONDecodeError, TypeError):
                return True  # read_rows reports the line
        delimiter = "\t" if file_format == "tsv" else ","
        header = next(csv.reader([first], delimiter=delimiter))
        return self.hparams.label_column in header

    def load_split(self, split: str) -> datasets.Dataset | None:
        """The split as a ``datasets.Dataset``, parsed once and cached by file content."""
        if split not in self._splits:
            path = self.split_file(split)
            self._splits[split] = self._load_file(path) if path is not None else None
        return self._splits[split]

    def _load_file(self, path: Path) -> datasets.Dataset:
        if path.stat().st_size == 0:
            raise DataFormatError(path, 1, "the file is empty")
        hp = self.hparams
        reading = [
            self.file_format(path),
            hp.text_column,
            hp.label_column,
            hp.tokenizer,
            hp.token_pattern,
            hp.lowercase,
        ]
        settings = hashlib.sha256(json.dumps(reading).encode()).hexdigest()[:12]
        return cached_parse(path, f"{type(self).__name__}-{settings}", lambda: self._parse(path))

    def _parse(self, path: Path) -> datasets.Dataset:
        examples = list(self.read_file(path))
        if not examples:
            raise DataFormatError(path, 1, "no examples found, only a header")
        features = datasets.Features(
            {
                "tokens": datasets.Sequence(datasets.Value("string")),
                "label": datasets.Value("string"),
                "line": datasets.Value("int64"),
            }
        )
        return datasets.Dataset.from_list(examples, features=features)

    # --- vocabularies (built from the training split only) ------------------------------------
    def build_vocabularies(self) -> None:
        if self.words is not None:
            return
        train = self.load_split("train")
        if train is None:
            raise NlptagError("data: the vocabularies need a training split (data.train_file)")
        if train[0]["label"] is None:
            raise DataFormatError(
                self.split_file("train"), 1, f"no label column {self.hparams.label_column!r}"
            )
        tokens = train["tokens"]
        self.words = Vocabulary.build(
            (token for text in tokens for token in text), min_freq=self.hparams.min_word_freq
        )
        self.chars = Vocabulary.build(char for text in tokens for token in text for char in token)
        self.labels = Vocabulary(sorted(set(train["label"]), key=_label_order), unk=None)

    @property
    def label_names(self) -> list[str]:
        self.build_vocabularies()
        return list(self.labels.entries)

    @property
    def evaluation_label_names(self) -> list[str]:
        """The labels of the gold ids: the model's labels, then :attr:`unseen_labels`."""
        return self.label_names + self.unseen_labels

    def state_dict(self) -> dict[str, list[str]]:
        self.build_vocabularies()
        return {
            "words": self.words.entries,
            "chars": self.chars.entries,
            "labels": self.labels.entries,
        }

    def load_state_dict(self, state: dict[str, list[str]]) -> None:
        self.words = Vocabulary(state["words"])
        self.chars = Vocabulary(state["chars"])
        self.labels = Vocabulary(state["labels"], unk=None)
        self.unseen_labels = []
        self._encoded.clear()

    # --- encoding and loading ------------------------------------------------------------------
    def encode(self, tokens: list[str], index: int = 0, label_id: int = 0) -> dict:
        """Ids of one text: ``word_ids`` (T), ``char_ids`` (T lists), ``label_id``, ``index``;
        the text is cut to ``max_length`` tokens and each word to ``max_word_length``."""
        self.build_vocabularies()
        h = self.hparams
        return encode_text(
            tokens, self.words, self.chars, h.max_length, h.max_word_length, index, label_id
        )

    def label_id(self, label: str) -> int:
        """The gold id of ``label``; a label training never had gets a reserved id past the
        model's labels (see :attr:`unseen_labels`)."""
        if label in self.labels:
            return self.labels.id(label)
        return len(self.labels) + self.unseen_labels.index(label)

    def _note_unseen(self, path: Path | None, labels: list[str]) -> None:
        """Add the labels of an evaluation file that training never had to
        :attr:`unseen_labels`, with one warning line naming them and their texts."""
        counts: dict[str, int] = {}
        for label in labels:
            if label not in self.labels:
                counts[label] = counts.get(label, 0) + 1
        if counts:
            self.unseen_labels += [label for label in counts if label not in self.unseen_labels]
            warn_unseen(path, "labels", counts, len(labels), self)

    def encoded_split(self, split: str) -> list[dict]:
        """The split encoded for the model; every example must be labelled."""
        if split not in self._encoded:
            data = self.load_split(split)
            if data is None:
                raise NlptagError(f"data: no {split} split; set data.{split}_file")
            path = self.split_file(split)
            if data[0]["label"] is None:
                raise NlptagError(
                    f"data: the {split} file {path} has no label column "
                    f"{self.hparams.label_column!r}; it can only be predicted (nlptag predict)"
                )
            self.build_vocabularies()
            if split != "train":
                self._note_unseen(path, data["label"])
            self._encoded[split] = [
                self.encode(tokens, i, self.label_id(label))
                for i, (tokens, label) in enumerate(zip(data["tokens"], data["label"], strict=True))
            ]
        return self._encoded[split]

    collate = staticmethod(collate_classification)

    def predict_examples(self) -> datasets.Dataset:
        """The texts ``nlptag predict`` labels: ``predict_file``, else the test split."""
        if self.hparams.predict_file is not None:
            path = Path(self.hparams.predict_file)
            if not path.is_file():
                raise NlptagError(f"data.predict_file: {path} does not exist or is not a file")
            return self._load_file(path)
        data = self.load_split("test")
        if data is None:
            raise NlptagError("data: nothing to predict; set data.predict_file")
        return data

    def predict_dataloader(self) -> DataLoader:
        data = self.predict_examples()
        examples = [self.encode(tokens, i) for i, tokens in enumerate(data["tokens"])]
        return self.loader(examples, shuffle=False)
