"""CoNLL-U reader for tagging: one example per sentence, words and one tag column.

Comment lines (``#``), multiword-token ranges (``1-2``) and empty nodes (``8.1``) are skipped;
only integer-ID word lines are kept. Any deviation from the format names the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from nlptag.errors import DataFormatError

TagColumn = Literal["upos", "xpos"]
_COLUMN_INDEX = {"upos": 3, "xpos": 4}
_RANGE_ID = re.compile(r"^\d+-\d+$")
_EMPTY_NODE_ID = re.compile(r"^\d+\.\d+$")


def read_conllu(path: str | Path, tag_column: TagColumn = "upos") -> Iterator[dict[str, list[str]]]:
    """Yield ``{"tokens": [...], "tags": [...]}`` per sentence of a CoNLL-U file."""
    path = Path(path)
    column = _COLUMN_INDEX[tag_column]
    tokens: list[str] = []
    tags: list[str] = []
    sentence_start: int | None = None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                if sentence_start is not None:
                    if not tokens:
                        raise DataFormatError(
                            path, sentence_start, "empty sentence: comments but no word lines"
                        )
                    yield {"tokens": tokens, "tags": tags}
                tokens, tags, sentence_start = [], [], None
                continue
            if sentence_start is None:
                sentence_start = number
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 10:
                raise DataFormatError(
                    path,
                    number,
                    f"expected 10 TAB-separated columns (ID FORM LEMMA UPOS XPOS FEATS HEAD "
                    f"DEPREL DEPS MISC), found {len(fields)}",
                )
            word_id = fields[0]
            if _RANGE_ID.match(word_id) or _EMPTY_NODE_ID.match(word_id):
                continue
            if not word_id.isdigit():
                raise DataFormatError(
                    path,
                    number,
                    f"ID {word_id!r} is not a word index (an integer, a range like 1-2 or an "
                    "empty node like 8.1)",
                )
            expected = len(tokens) + 1
            if int(word_id) != expected:
                raise DataFormatError(
                    path, number, f"ID {word_id} out of order, expected {expected}"
                )
            tokens.append(fields[1])
            tags.append(fields[column])
    if sentence_start is not None:
        if not tokens:
            raise DataFormatError(
                path, sentence_start, "empty sentence: comments but no word lines"
            )
        yield {"tokens": tokens, "tags": tags}
