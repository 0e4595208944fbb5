"""Chunk (entity) precision, recall and F1 computed exactly as the CoNLL ``conlleval`` script does.

A tag is ``PREFIX-TYPE`` split at its first hyphen (``B-PER`` -> ``B``, ``PER``), or a bare prefix
such as ``O`` whose type is ``""``. Chunk boundaries follow conlleval's ``startOfChunk`` and
``endOfChunk`` (version 2004-01-26), which read IOB1, IOB2 and IOE alike; an ``I-X`` after ``O``
opens a chunk and a type change closes one. The plain script has no rules for ``S`` and ends no
chunk between ``E`` and ``B``, so it merges IOBES chunks; we add the rules of the common IOBES
extension of conlleval (``S`` is a chunk of its own, ``E`` and ``S`` close the chunk before any
``B``/``I``/``E``/``S``). They change nothing for sequences with no ``S`` and no ``E`` followed by
``B``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torchmetrics import Metric

IN_CHUNK = {"B", "I"}
CLOSED = {"E", "S"}  # IOBES extension: a chunk always ends after these
OPENS = {"B", "S"}  # a chunk always starts at these (after O, B, I, E or S)


def split_tag(tag: str) -> tuple[str, str]:
    """Split at the first hyphen: ``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``."""
    prefix, _, type_ = tag.partition("-")
    return prefix, type_


def end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """Whether a chunk ended between the previous and the current token (conlleval's rule)."""
    return (
        (prev_tag in IN_CHUNK and tag in {"B", "S", "O"})
        or (prev_tag in CLOSED and tag in {"B", "I", "E", "S", "O"})
        or (prev_tag not in {"O", "."} and prev_type != type_)
        or prev_tag in {"[", "]"}
    )


def start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """Whether a chunk started between the previous and the current token (conlleval's rule)."""
    return (
        (tag in OPENS and prev_tag in {"B", "I", "O", "E", "S"})
        or (tag == "I" and prev_tag in {"O", "E", "S"})
        or (tag == "E" and prev_tag in {"O", "E", "S"})
        or (tag not in {"O", "."} and prev_type != type_)
        or tag in {"[", "]"}
    )


def extract_chunks(tags: list[str]) -> list[tuple[str, int, int]]:
    """The chunks conlleval reads in one sentence, as ``(type, start, end)`` with ``end`` exclusive.

    Example: ``["B-PER", "I-PER", "O", "I-LOC"]`` -> ``[("PER", 0, 2), ("LOC", 3, 4)]``.
    """
    chunks: list[tuple[str, int, int]] = []
    current: tuple[str, int] | None = None  # type and start of the open chunk
    prev_tag, prev_type = "O", ""
    for i, (tag, type_) in enumerate(map(split_tag, [*tags, "O"])):
        starts = start_of_chunk(prev_tag, tag, prev_type, type_)
        if current and (starts or end_of_chunk(prev_tag, tag, prev_type, type_)):
            chunks.append((*current, i))
            current = None
        if starts:
            current = (type_, i)
        prev_tag, prev_type = tag, type_
    return chunks


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


class EntityF1(Metric):
    """Micro-averaged and per-type chunk F1 (percent) with conlleval's chunking and counting.

    ``update`` takes tag strings per sentence (``O`` or ``B``/``I``/``E``/``S``-TYPE, in IOB1, IOB2
    or IOBES); each sentence ends with a boundary, which conlleval reads as ``O``. The states are
    counts summed across processes, so distributed results equal single-process ones.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, entity_types: list[str]) -> None:
        super().__init__()
        self.entity_types = list(entity_types)
        num_types = len(self.entity_types)
        for name in ("true_positives", "predicted", "gold"):
            self.add_state(name, torch.zeros(num_types, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("correct_tokens", torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total_tokens", torch.tensor(0), dist_reduce_fx="sum")

    def _check(self, tags: list[str]) -> None:
        for tag in tags:
            if tag == "O":
                continue
            prefix, type_ = split_tag(tag)
            if prefix not in {"B", "I", "E", "S"}:
                raise ValueError(f"tag {tag!r} is neither 'O' nor B-, I-, E- or S- and a type")
            if type_ not in self.entity_types:
                raise ValueError(f"unknown entity type {type_!r} in tag {tag!r}")

    def update(self, preds: list[list[str]], target: list[list[str]]) -> None:
        """Add sentences: ``preds`` and ``target`` hold one list of tag strings per sentence."""
        if len(preds) != len(target):
            raise ValueError(f"{len(preds)} predicted sentences but {len(target)} gold ones")
        pairs: list[tuple[str, str] | None] = []
        for i, (pred, gold) in enumerate(zip(preds, target, strict=True)):
            if len(pred) != len(gold):
                raise ValueError(f"sentence {i}: {len(pred)} predicted tags but {len(gold)} gold")
            self._check(pred)
            self._check(gold)
            pairs.extend(zip(gold, pred, strict=True))
            pairs.append(None)
        counts = count_chunks(pairs)
        for name, counter in [
            ("true_positives", counts.correct),
            ("predicted", counts.predicted),
            ("gold", counts.gold),
        ]:
            added = torch.tensor([counter[t] for t in self.entity_types], device=self.device)
            setattr(self, name, getattr(self, name) + added)
        self.correct_tokens += counts.correct_tags
        self.total_tokens += counts.tokens

    def compute(self) -> dict[str, torch.Tensor]:
        """``f1``, ``precision``, ``recall``, ``accuracy``, and ``f1/TYPE`` etc. per type, in %."""
        precision, recall, f1 = _prf(self.true_positives, self.predicted, self.gold)
        total_p, total_r, total_f1 = _prf(
            self.true_positives.sum(), self.predicted.sum(), self.gold.sum()
        )
        scores = {
            "f1": total_f1,
            "precision": total_p,
            "recall": total_r,
            "accuracy": _percent(self.correct_tokens, self.total_tokens),
        }
        for i, name in enumerate(self.entity_types):
            scores |= {
                f"f1/{name}": f1[i],
                f"precision/{name}": precision[i],
                f"recall/{name}": recall[i],
            }
        return scores


def _percent(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``100 * num / den`` as float, 0 where ``den`` is 0."""
    return torch.where(den > 0, 100 * num.float() / den.clamp(min=1), 0.0)


def _prf(correct: torch.Tensor, predicted: torch.Tensor, gold: torch.Tensor) -> list[torch.Tensor]:
    """Tensor version of :func:`prf`, elementwise."""
    precision, recall = _percent(correct, predicted), _percent(correct, gold)
    total = precision + recall
    f1 = torch.where(total > 0, 2 * precision * recall / total.clamp(min=1e-6), 0.0)
    return [precision, recall, f1]
