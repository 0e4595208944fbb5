"""Corpus BLEU with sacreBLEU, accumulated over batches and processes."""

from __future__ import annotations

import torch
from sacrebleu.metrics import BLEU
from torchmetrics import Metric

_NUM_STATS = 10  # hypothesis length, reference length, 4 x matched n-grams, 4 x total n-grams


def bleu_signature() -> str:
    """sacreBLEU's signature of the settings :class:`CorpusBLEU` uses (one reference each)."""
    bleu = BLEU()
    bleu.corpus_score(["a"], [["a"]])  # sacreBLEU knows the number of references only after use
    return str(bleu.get_signature())


class CorpusBLEU(Metric):
    """sacreBLEU's corpus BLEU (default settings: 13a tokenisation, mixed case, exp smoothing) on
    detokenised text, one reference per hypothesis.

    Each update adds sacreBLEU's sufficient statistics of its sentences; they are summed over
    batches and processes, so the result equals ``sacrebleu.corpus_bleu`` on the whole corpus.
    ``compute`` returns BLEU in [0, 100].
    """

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("stats", torch.zeros(_NUM_STATS, dtype=torch.float64), "sum")
        self.bleu = BLEU()

    def update(self, hypotheses: list[str], references: list[str]) -> None:
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
        if not hypotheses:
            return
        stats = self.bleu._extract_corpus_statistics(list(hypotheses), [list(references)])
        summed = torch.tensor([sum(column) for column in zip(*stats)], dtype=torch.float64)
        self.stats += summed.to(self.stats.device)

    def compute(self) -> torch.Tensor:
        stats = [int(value) for value in self.stats.tolist()]
        return torch.tensor(self.bleu._compute_score_from_stats(stats).score, dtype=torch.float64)
