"""CoNLL-style column files for NER (CoNLL-2003 and any file set like it).

One token per line, columns separated by whitespace (or a given delimiter), blank lines between
sentences, ``-DOCSTART-`` lines as document boundaries (never sentences). Token and label columns
are selectable; CoNLL-2003 has ``word POS chunk NER``, so token column 0 and label column 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_modules.tagging import TaggingDataModule
from nlptag.text.readers import read_conll_columns
from nlptag.text.schemes import Scheme, convert_tags


class NERDataModule(TaggingDataModule):
    """Named-entity data in CoNLL columns; tags are converted to ``tag_scheme`` for training.

    Args (besides those of :class:`TaggingDataModule`):
        token_column: column of the token (0-based).
        label_column: column of the entity label (CoNLL-2003: 3; -1 is the last column).
        delimiter: column separator; default any whitespace.
        data_scheme: the scheme of the files (CoNLL-2003: ``iob1``); predictions are converted
            back to it.
        tag_scheme: the scheme the model is trained in (IOBES by default).
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
        hub_tag_column: str = "ner_tags",
        token_column: int = 0,
        label_column: int = -1,
        delimiter: str | None = None,
        data_scheme: Scheme = "iob1",
        tag_scheme: Scheme = "iobes",
        batch_size: int = 32,
        min_word_freq: int = 1,
        lowercase: bool = False,
        digits_to_zero: bool = False,
        max_word_length: int = 30,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            dataset=dataset,
            train_file=train_file,
            validation_file=validation_file,
            test_file=test_file,
            predict_file=predict_file,
            hub_dataset=hub_dataset,
            hub_config=hub_config,
            hub_tag_column=hub_tag_column,
            batch_size=batch_size,
            min_word_freq=min_word_freq,
            lowercase=lowercase,
            digits_to_zero=digits_to_zero,
            max_word_length=max_word_length,
            num_workers=num_workers,
            seed=seed,
        )
        self.save_hyperparameters()
        self.data_scheme = data_scheme
        self.tag_scheme = tag_scheme

    def read_file(self, path: Path) -> Iterator[dict[str, list[str]]]:
        h = self.hparams
        return read_conll_columns(path, h.token_column, h.label_column, h.delimiter)

    def prepare_tags(self, tags: list[str]) -> list[str]:
        return convert_tags(tags, self.data_scheme, self.tag_scheme)

    def cache_key(self) -> str:
        h = self.hparams
        return f"{h.token_column}-{h.label_column}-{h.delimiter}-{h.data_scheme}-{h.tag_scheme}"
