"""Readers for every text format nlptag reads: CoNLL columns, CoNLL-U, TSV/CSV/JSON lines, plain
and parallel text. The data modules, the predictors' command-line tools and the metrics tools
all read files through these; nothing here imports ``datasets`` or Lightning.

Every reader decodes UTF-8 (a byte-order mark is dropped, ``\r\n`` line ends are read as ``\n``,
``.gz`` files are decompressed) and reports a problem as a :class:`DataFormatError` naming the
file and line.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from nlptag.errors import DataFormatError, NlptagError

TagColumn = Literal["upos", "xpos"]
FileFormat = Literal["tsv", "csv", "jsonl"]
CONLLU_COLUMN_INDEX = {"upos": 3, "xpos": 4}
DOCSTART = "-DOCSTART-"
_RANGE_ID = re.compile(r"^\d+-\d+$")
_EMPTY_NODE_ID = re.compile(r"^\d+\.\d+$")


def _decode(data: bytes, name: str | Path) -> str:
    """UTF-8 ``data`` as text, a leading byte-order mark dropped; bytes that are not UTF-8
    are an error naming the line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataFormatError(
            name, line, f"not UTF-8 text (byte 0x{data[error.start]:02x}); save the file as UTF-8"
        ) from None


def decode_text(data: bytes, name: str | Path) -> list[str]:
    """The lines of UTF-8 ``data`` without their line ends (a leading byte-order mark dropped,
    ``\r\n`` read as ``\n``); bytes that are not UTF-8 are an error naming the line."""
    lines = _decode(data, name).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def text_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file (gzip-compressed if its name ends in ``.gz``), as
    :func:`decode_text` reads them. Only ``\n`` ends a line, as for ``wc -l``."""
    return decode_text(_file_bytes(path), path)


def read_text(path: str | Path) -> str:
    """The whole text of a UTF-8 file (gzip-compressed if its name ends in ``.gz``): a
    byte-order mark dropped, ``\r\n`` read as ``\n``, bytes that are not UTF-8 an error."""
    return _decode(_file_bytes(path), path).replace("\r\n", "\n")


def _file_bytes(path: str | Path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise NlptagError(f"{path} does not exist or is not a file")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as error:  # unreadable, or a damaged or not-really-gzip file
        reason = getattr(error, "strerror", None) or error
        raise DataFormatError(path, None, f"cannot be read ({reason})") from None
    return data


def read_lines(path: str | Path) -> list[str]:
    """The lines of a plain or parallel text file (see :func:`text_lines`)."""
    return text_lines(path)


def read_conllu(
    path: str | Path,
    tag_column: TagColumn = "upos",
    lines: list[str] | None = None,
    with_lines: bool = False,
) -> Iterator[dict[str, list]]:
    """Yield ``{"tokens": [...], "tags": [...]}`` per sentence of a CoNLL-U file (or of
    ``lines``, read as the file ``path``); with ``with_lines``, also ``"lines"``: the 1-based
    line number of each word."""
    column = CONLLU_COLUMN_INDEX[tag_column]
    tokens: list[str] = []
    tags: list[str] = []
    numbers: list[int] = []
    sentence_start: int | None = None
    for number, line in enumerate(text_lines(path) if lines is None else lines, start=1):
        if not line.strip():
            if sentence_start is not None:
                if not tokens:
                    raise DataFormatError(
                        path, sentence_start, "empty sentence: comments but no word lines"
                    )
                yield _sentence(tokens, tags, numbers, with_lines)
            tokens, tags, numbers, sentence_start = [], [], [], None
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
            raise DataFormatError(path, number, f"ID {word_id} out of order, expected {expected}")
        tokens.append(fields[1])
        tags.append(fields[column])
        numbers.append(number)
    if sentence_start is not None:
        if not tokens:
            raise DataFormatError(
                path, sentence_start, "empty sentence: comments but no word lines"
            )
        yield _sentence(tokens, tags, numbers, with_lines)


def read_conll_columns(
    path: str | Path,
    token_column: int = 0,
    label_column: int | None = -1,
    delimiter: str | None = None,
    lines: list[str] | None = None,
    with_lines: bool = False,
) -> Iterator[dict[str, list]]:
    """Yield ``{"tokens": [...], "tags": [...]}`` per sentence of a CoNLL column file (or of
    ``lines``, read as the file ``path``); every token line must have the same number of
    columns. ``label_column`` ``None`` reads tokens only (``tags`` empty); ``with_lines`` adds
    ``"lines"``, the 1-based line number of each token."""
    tokens: list[str] = []
    tags: list[str] = []
    numbers: list[int] = []
    columns: int | None = None
    for number, line in enumerate(text_lines(path) if lines is None else lines, start=1):
        fields = line.split(delimiter)
        fields = [field for field in fields if field] if delimiter is None else fields
        if not fields or fields == [""] or fields[0] == DOCSTART:
            if tokens:
                yield _sentence(tokens, tags, numbers, with_lines)
            tokens, tags, numbers = [], [], []
            continue
        if columns is None:
            columns = len(fields)
            if label_column is None:
                needed = token_column + 1
            else:
                needed = max(token_column, label_column) + 1 if label_column >= 0 else 2
            if columns < needed:
                raise DataFormatError(
                    path,
                    number,
                    f"{columns} columns, but the token and label columns "
                    f"({token_column}, {label_column}) need at least {needed}",
                )
        elif len(fields) != columns:
            raise DataFormatError(
                path, number, f"{len(fields)} columns, expected {columns} like the first line"
            )
        if not fields[token_column].strip():
            raise DataFormatError(path, number, f"the token (column {token_column}) is empty")
        if label_column is not None and not fields[label_column].strip():
            raise DataFormatError(path, number, f"the label (column {label_column}) is empty")
        tokens.append(fields[token_column])
        if label_column is not None:
            tags.append(fields[label_column])
        numbers.append(number)
    if tokens:
        yield _sentence(tokens, tags, numbers, with_lines)


def _sentence(tokens: list[str], tags: list[str], numbers: list[int], with_lines: bool) -> dict:
    sentence = {"tokens": tokens, "tags": tags}
    if with_lines:
        sentence["lines"] = numbers
    return sentence


def read_rows(
    path: Path, file_format: FileFormat, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, object]]]:
    """(line number, row) for each record of a TSV/CSV file (first line is the header) or a JSON
    lines file. Every name in ``columns`` must be present in each row."""
    lines = text_lines(path)
    if file_format == "jsonl":
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataFormatError(path, number, f"invalid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise DataFormatError(path, number, "expected a JSON object")
            missing = [column for column in columns if column not in row]
            if missing:
                raise DataFormatError(path, number, f"no field {missing[0]!r}")
            yield number, row
        return
    if file_format == "tsv":
        reader = csv.reader([line + "\n" for line in lines], delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader([line + "\n" for line in lines])
    try:
        yield from _csv_rows(path, reader, columns)
    except csv.Error as error:
        raise DataFormatError(
            path, reader.line_num, f"malformed {file_format} line ({error})"
        ) from None


def _csv_rows(
    path: Path, reader: Iterator[list[str]], columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, object]]]:
    header = next(reader, None)
    if header is None:
        raise DataFormatError(path, 1, "the file is empty")
    missing = [column for column in columns if column not in header]
    if missing:
        raise DataFormatError(
            path, 1, f"no column {missing[0]!r} in the header (columns: {', '.join(header)})"
        )
    for record in reader:
        if not record or record == [""]:
            continue
        if len(record) != len(header):
            raise DataFormatError(
                path, reader.line_num, f"expected {len(header)} fields, found {len(record)}"
            )
        yield reader.line_num, dict(zip(header, record, strict=True))
