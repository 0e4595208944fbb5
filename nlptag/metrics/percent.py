"""Accuracy and F1 in percent. Every score nlptag reports (token and label accuracy, entity and
macro F1, BLEU, caption metrics) is a percentage, in the logs, ``metrics.json``, the README and
``benchmarks/results``; losses, bits per character and perplexity keep their own units."""

from __future__ import annotations

import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score


class PercentAccuracy(MulticlassAccuracy):
    """:class:`~torchmetrics.classification.MulticlassAccuracy`, times 100."""

    def compute(self) -> torch.Tensor:
        return 100 * super().compute()


class PercentF1(MulticlassF1Score):
    """:class:`~torchmetrics.classification.MulticlassF1Score`, times 100."""

    def compute(self) -> torch.Tensor:
        return 100 * super().compute()
