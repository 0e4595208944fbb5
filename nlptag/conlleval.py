"""``nlptag conlleval``: the CoNLL chunk evaluation script, same input, same counts, same report.

Each line holds ``token ... gold predicted`` (the last two columns count); a blank line, a line
starting with conlleval's boundary ``-X-`` ends a sentence and is not a token. As in conlleval.pl,
a ``-DOCSTART-`` line is an ordinary token (its tags are normally ``O``): it adds to the token
count and accuracy, never to the chunks. Chunking and counting are those of
:mod:`nlptag.metrics.entity_f1`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import TextIO

from nlptag.errors import DataFormatError
from nlptag.metrics.entity_f1 import ChunkCounts, count_chunks, prf

BOUNDARIES = {"-X-"}


def read_pairs(
    lines: TextIO, name: str, delimiter: str | None = None, raw: bool = False, outside: str = "O"
) -> Iterator[tuple[str, str] | None]:
    """``(gold, predicted)`` per token line, ``None`` per sentence boundary.

    ``delimiter`` splits columns (default: any whitespace). ``outside`` is read as ``O``; with
    ``raw`` every other tag is a one-token chunk of that type (conlleval's ``-r``).
    """
    columns = None
    for number, line in enumerate(lines, start=1):
        fields = line.rstrip("\r\n").split(delimiter)
        while fields and not fields[-1].strip():
            fields.pop()
        if not fields:
            yield None
            continue
        if columns is None:
            columns = len(fields)
        if len(fields) != columns:
            raise DataFormatError(name, number, f"{len(fields)} columns, expected {columns}")
        if len(fields) < 3:
            raise DataFormatError(name, number, "need at least 3 columns: token ... gold predicted")
        if fields[0] in BOUNDARIES:
            yield None
            continue
        tags = ["O" if tag == outside else tag for tag in fields[-2:]]
        if raw:
            tags = [tag if tag == "O" else f"B-{tag}" for tag in tags]
        yield tags[0], tags[1]


def report(counts: ChunkCounts) -> str:
    """conlleval's text report: totals, then one line per chunk type in sorted order."""
    correct, found, gold = (
        sum(c.values()) for c in (counts.correct, counts.predicted, counts.gold)
    )
    lines = [
        f"processed {counts.tokens} tokens with {gold} phrases; "
        f"found: {found} phrases; correct: {correct}."
    ]
    if counts.tokens > 0:
        precision, recall, f1 = prf(correct, found, gold)
        accuracy = 100 * counts.correct_tags / counts.tokens
        lines.append(
            f"accuracy: {accuracy:6.2f}%; precision: {precision:6.2f}%; "
            f"recall: {recall:6.2f}%; FB1: {f1:6.2f}"
        )
    types = sorted(set(counts.gold) | set(counts.predicted))
    # like conlleval, untyped chunks ("B" rather than "B-NP") are listed once per column
    types[:0] = [""] * (("" in counts.gold) + ("" in counts.predicted) - 1)
    for type_ in types:
        found = counts.predicted[type_]
        precision, recall, f1 = prf(counts.correct[type_], found, counts.gold[type_])
        lines.append(
            f"{type_:>17}: precision: {precision:6.2f}%; "
            f"recall: {recall:6.2f}%; FB1: {f1:6.2f}  {found}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run ``nlptag conlleval [-d DELIM] [-o OTAG] [-r] [FILE]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="nlptag conlleval",
        description="Chunk precision, recall and FB1 of 'token ... gold predicted' lines, "
        "exactly as the CoNLL conlleval script reports them.",
    )
    parser.add_argument("file", nargs="?", help="input file (default: standard input)")
    parser.add_argument("-d", dest="delimiter", help="column delimiter (default: whitespace)")
    parser.add_argument("-o", dest="outside", default="O", help="outside tag, read as O")
    parser.add_argument("-r", dest="raw", action="store_true", help="tags without B-/I- prefixes")
    args = parser.parse_args(argv)
    try:
        if args.file is None:
            pairs = read_pairs(sys.stdin, "<stdin>", args.delimiter, args.raw, args.outside)
            counts = count_chunks(pairs)
        else:
            with open(args.file, encoding="utf-8") as lines:
                pairs = read_pairs(lines, args.file, args.delimiter, args.raw, args.outside)
                counts = count_chunks(pairs)
    except (OSError, UnicodeDecodeError, DataFormatError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(report(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
