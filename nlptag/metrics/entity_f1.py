"""Chunk (entity) precision, recall and F1 computed exactly as the CoNLL ``conlleval`` script does.

A tag is ``PREFIX-TYPE`` split at its first hyphen (``B-PER`` -> ``B``, ``PER``), or a bare prefix
such as ``O`` whose type is ``""``.
Chunks are read as conlleval reads them (:mod:`nlptag.text.schemes`) and counted by
:func:`nlptag.metrics.conlleval.count_chunks`.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from nlptag.metrics.conlleval import count_chunks
from nlptag.text.schemes import split_tag


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
        """``f1``, ``precision``, ``recall``, ``acc`` (token accuracy, as conlleval counts it), and
        ``f1/TYPE`` etc. per type, in %."""
        precision, recall, f1 = _prf(self.true_positives, self.predicted, self.gold)
        total_p, total_r, total_f1 = _prf(
            self.true_positives.sum(), self.predicted.sum(), self.gold.sum()
        )
        scores = {
            "f1": total_f1,
            "precision": total_p,
            "recall": total_r,
            "acc": _percent(self.correct_tokens, self.total_tokens),
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
