import gzip

import pytest

from nlptag.errors import DataFormatError, NlptagError
from nlptag.text.readers import (
    decode_text,
    read_conll_columns,
    read_rows,
    read_text,
    text_lines,
)


def test_a_bom_is_dropped_and_only_lf_ends_a_line():
    data = "\ufeffeins\r\nzwei\n\r\ndrei\r\n".encode()
    assert decode_text(data, "x.txt") == ["eins", "zwei", "", "drei"]
    assert decode_text(b"a\rb\nc", "x.txt") == ["a\rb", "c"]


def test_bytes_that_are_not_utf8_name_the_line_and_the_byte():
    with pytest.raises(DataFormatError, match=r"^x\.txt:3: not UTF-8 text \(byte 0xe9\)") as info:
        decode_text(b"ok\nfine\ncaf\xe9\n", "x.txt")
    assert info.value.line == 3


def test_gzip_and_plain_files_give_the_same_text(tmp_path):
    text = "\ufeffl\u00e4nge\r\nzwei\r\n"
    plain = tmp_path / "a.txt"
    plain.write_bytes(text.encode())
    packed = tmp_path / "a.txt.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert read_text(plain) == read_text(packed) == "l\u00e4nge\nzwei\n"
    assert text_lines(packed) == ["l\u00e4nge", "zwei"]


def test_a_damaged_gzip_file_and_a_missing_file_are_errors(tmp_path):
    fake = tmp_path / "fake.gz"
    fake.write_bytes(b"not gzip at all")
    with pytest.raises(DataFormatError, match=r"fake\.gz: cannot be read"):
        text_lines(fake)
    with pytest.raises(NlptagError, match=r"missing\.txt does not exist or is not a file"):
        text_lines(tmp_path / "missing.txt")


def test_conll_columns_with_line_numbers_and_tokens_only():
    lines = ["-DOCSTART- O", "", "EU B-ORG", "rejects O", "", "", "Peter B-PER"]
    sentences = list(read_conll_columns("x", lines=lines, with_lines=True))
    assert sentences == [
        {"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"], "lines": [3, 4]},
        {"tokens": ["Peter"], "tags": ["B-PER"], "lines": [7]},
    ]
    tokens_only = list(read_conll_columns("x", label_column=None, lines=lines))
    assert tokens_only == [
        {"tokens": ["EU", "rejects"], "tags": []},
        {"tokens": ["Peter"], "tags": []},
    ]


def test_conll_first_line_with_too_few_columns_and_empty_label_are_errors():
    with pytest.raises(
        DataFormatError,
        match=r"^x:1: 2 columns, but the token and label columns \(0, 3\) need at least 4$",
    ):
        list(read_conll_columns("x", label_column=3, lines=["a b"]))
    with pytest.raises(DataFormatError, match=r"^x:2: the label \(column 1\) is empty$"):
        list(read_conll_columns("x", label_column=1, delimiter="\t", lines=["a\tB", "b\t "]))


def test_tsv_rows_keep_quotes_and_csv_rows_parse_them(tmp_path):
    tsv = tmp_path / "d.tsv"
    tsv.write_text('label\ttext\npos\t"great" film\n\nneg\tdull\n', encoding="utf-8")
    assert list(read_rows(tsv, "tsv", ("text",))) == [
        (2, {"label": "pos", "text": '"great" film'}),
        (4, {"label": "neg", "text": "dull"}),
    ]
    csv_file = tmp_path / "d.csv"
    csv_file.write_text('label,text\npos,"good, really"\n', encoding="utf-8")
    assert list(read_rows(csv_file, "csv", ("label", "text"))) == [
        (2, {"label": "pos", "text": "good, really"})
    ]


def test_row_errors_name_the_line(tmp_path):
    tsv = tmp_path / "d.tsv"
    tsv.write_text("label\ttext\npos\tok\nneg\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"d\.tsv:3: expected 2 fields, found 1$"):
        list(read_rows(tsv, "tsv", ("text",)))
    with pytest.raises(
        DataFormatError,
        match=r"d\.tsv:1: no column 'sentence' in the header \(columns: label, text\)",
    ):
        list(read_rows(tsv, "tsv", ("sentence",)))
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a"}\n\n[1]\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"d\.jsonl:3: expected a JSON object$"):
        list(read_rows(jsonl, "jsonl", ("text",)))
    jsonl.write_text('{"text": "a"}\n{"label": "b"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"d\.jsonl:2: no field 'text'$"):
        list(read_rows(jsonl, "jsonl", ("text",)))
