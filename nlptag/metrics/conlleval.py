"""conlleval's input lines, counting loop, figures and report, in plain Python (no torch):
shared by the ``EntityF1`` metric and the ``nlptag conlleval`` tool. Chunks are read with the
rules of
:mod:`nlptag.text.schemes`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from nlptag.errors import DataFormatError
from nlptag.text.schemes import end_of_chunk, split_tag, start_of_chunk


@dataclass
class ChunkCounts:
    """conlleval's counters: per-type correct, gold and predicted chunks, and token accuracy."""

    correct: Counter[str] = field(default_factory=Counter)
    gold: Counter[str] = field(default_factory=Counter)
    predicted: Counter[str] = field(default_factory=Counter)
    correct_tags: int = 0
    tokens: int = 0


def count_chunks(pairs: Iterable[tuple[str, str] | None]) -> ChunkCounts:
    """Run conlleval's counting loop over ``(gold, predicted)`` tag pairs.

    ``None`` is a sentence boundary: it reads as ``O`` in both columns and is not a token. A chunk
    counts as correct when gold and prediction start it at the same token with the same type and
    end it at the same token.
    """
    counts = ChunkCounts()
    last_gold, last_gold_type, last_pred, last_pred_type = "O", "", "O", ""
    in_correct = False
    for pair in pairs:
        gold, gold_type = split_tag(pair[0]) if pair else ("O", "")
        pred, pred_type = split_tag(pair[1]) if pair else ("O", "")
        gold_ends = end_of_chunk(last_gold, gold, last_gold_type, gold_type)
        pred_ends = end_of_chunk(last_pred, pred, last_pred_type, pred_type)
        gold_starts = start_of_chunk(last_gold, gold, last_gold_type, gold_type)
        pred_starts = start_of_chunk(last_pred, pred, last_pred_type, pred_type)
        if in_correct:
            if gold_ends and pred_ends and last_gold_type == last_pred_type:
                in_correct = False
                counts.correct[last_gold_type] += 1
            elif gold_ends != pred_ends or gold_type != pred_type:
                in_correct = False
        if gold_starts and pred_starts and gold_type == pred_type:
            in_correct = True
        if gold_starts:
            counts.gold[gold_type] += 1
        if pred_starts:
            counts.predicted[pred_type] += 1
        if pair is not None:
            counts.correct_tags += gold == pred and gold_type == pred_type
            counts.tokens += 1
        last_gold, last_gold_type, last_pred, last_pred_type = gold, gold_type, pred, pred_type
    if in_correct:
        counts.correct[last_gold_type] += 1
    return counts


def prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    """conlleval's precision, recall and FB1 in percent; each is 0 where undefined."""
    precision = 100 * correct / predicted if predicted > 0 else 0.0
    recall = 100 * correct / gold if gold > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


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
