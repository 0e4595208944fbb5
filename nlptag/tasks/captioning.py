"""Image captioning: a caption decoder over frozen image features, trained with teacher forcing
on every caption of every training image (plus the doubly stochastic attention penalty for
attention decoders), scored with the COCO caption metrics: greedy search on validation, the
configured search (beam) at test.

Shapes: ``B`` batch, ``R`` regions, ``K`` feature size, ``T`` caption length (with ``<s>`` and
``</s>``), ``V`` vocabulary size.
"""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from data_modules.captions import CaptionBatch
from nlptag.errors import NlptagError
from nlptag.metrics.captioning import CaptionScores
from nlptag.models.caption_search import CaptionSearch
from nlptag.models.captioning import CaptionNetwork
from nlptag.tasks.optimization import optimizer_config
from nlptag.text.specials import EOS_ID, PAD_ID, SUBWORD_SPECIALS

NetworkFactory = Callable[[int, int], CaptionNetwork]
"""(vocab_size, feature_size) -> captioning network."""


def attention_penalty(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The doubly stochastic attention penalty of Xu et al. (2015), ``sum_i (1 - sum_t
    alpha_ti)^2`` averaged over regions and images: weights (B, T, R), mask (B, T) of real
    steps -> a scalar. It pushes every region to be looked at about once over the caption."""
    coverage = (weights * mask.unsqueeze(2)).sum(dim=1)  # (B, R)
    return ((1.0 - coverage) ** 2).mean()


class ImageCaptioner(pl.LightningModule):
    """Captions images from their cached CNN features.

    Args:
        vocabulary: the words in id order, specials first (linked from the data module).
        feature_size: image feature size K (linked from the data module).
        network: builds the network from (vocab_size, feature_size).
        search: how test and predict captions are searched for (validation is always greedy).
        attention_penalty: weight lambda of the doubly stochastic attention penalty (attention
            decoders only; 0 turns it off).
        label_smoothing: cross-entropy label smoothing in training, in [0, 1).
        meteor: also compute METEOR at test time (needs Java and ``pycocoevalcap``).
        optimizer: the optimizer, given the parameters.
        lr_scheduler: an optional LR schedule, stepped once per epoch; a ReduceLROnPlateau
            schedule watches ``val/loss``.
    """

    main_metric = "val/bleu4"
    main_metric_mode = "max"

    def __init__(
        self,
        vocabulary: list[str] | None = None,
        feature_size: int = 1280,
        network: NetworkFactory = CaptionNetwork,
        search: CaptionSearch | None = None,
        attention_penalty: float = 1.0,
        label_smoothing: float = 0.0,
        meteor: bool = True,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not 0.0 <= label_smoothing < 1.0:
            raise NlptagError("model.init_args.label_smoothing must be in [0, 1)")
        if attention_penalty < 0:
            raise NlptagError("model.init_args.attention_penalty must be >= 0")
        self.vocabulary = list(vocabulary) if vocabulary is not None else list(SUBWORD_SPECIALS)
        try:
            self.network = network(len(self.vocabulary), feature_size)
            self.search = search if search is not None else CaptionSearch()
        except ValueError as error:
            raise NlptagError(f"model.init_args: {error}") from None
        self.penalty_weight = attention_penalty
        self.label_smoothing = label_smoothing
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.scores = nn.ModuleDict(
            {
                "val": CaptionScores(with_meteor=False),
                "test": CaptionScores(with_meteor=meteor),
                "test_greedy": CaptionScores(with_meteor=False),
            }
        )

    def forward(self, batch: CaptionBatch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced logits (B, T - 1, V) for ``captions[:, 1:]``, and the attention
        (B, T - 1, R) or ``None``."""
        return self.network(batch.grids, batch.captions[:, :-1])

    def decode(self, ids: list[int]) -> str:
        """Word ids -> the caption (words joined by spaces; specials and ``<unk>`` left out)."""
        words = []
        for i in ids:
            if i == EOS_ID:
                break
            if i >= len(SUBWORD_SPECIALS):
                words.append(self.vocabulary[i])
        return " ".join(words)

    def caption(self, grids: torch.Tensor, beam_size: int | None = None) -> list[str]:
        """The best caption of each image of grids (B, R, K)."""
        return [self.decode(ids) for ids in self.search.best(self.network, grids, beam_size)]

    def _loss(self, batch: CaptionBatch, stage: str) -> torch.Tensor:
        logits, weights = self(batch)
        gold = batch.captions[:, 1:]
        smoothing = self.label_smoothing if stage == "train" else 0.0
        loss = nn.functional.cross_entropy(
            logits.flatten(0, 1).float(),
            gold.flatten(),
            ignore_index=PAD_ID,
            label_smoothing=smoothing,
        )
        tokens = int(gold.ne(PAD_ID).sum())
        self.log(f"{stage}/loss", loss, batch_size=tokens, prog_bar=True)
        if weights is not None and self.penalty_weight > 0:
            penalty = attention_penalty(weights, gold.ne(PAD_ID).float())
            self.log(f"{stage}/attention_penalty", penalty, batch_size=len(gold))
            if stage == "train":
                loss = loss + self.penalty_weight * penalty
        return loss

    def _score(self, batch: CaptionBatch, metric: str, beam_size: int | None) -> None:
        self.scores[metric].update(self.caption(batch.grids, beam_size), list(batch.references))

    def _log_scores(self, metric: str, prefix: str, suffix: str = "") -> None:
        for name, value in self.scores[metric].compute().items():
            self.log(f"{prefix}/{name}{suffix}", value, prog_bar=name == "bleu4")
        self.scores[metric].reset()

    def training_step(self, batch: CaptionBatch, batch_idx: int) -> torch.Tensor:
        return self._loss(batch, "train")

    def validation_step(self, batch: CaptionBatch, batch_idx: int) -> None:
        self._loss(batch, "val")
        self._score(batch, "val", beam_size=1)

    def on_validation_epoch_end(self) -> None:
        self._log_scores("val", "val")

    def test_step(self, batch: CaptionBatch, batch_idx: int) -> None:
        self._loss(batch, "test")
        self._score(batch, "test", beam_size=None)
        self._score(batch, "test_greedy", beam_size=1)

    def on_test_epoch_end(self) -> None:
        self._log_scores("test", "test")
        self._log_scores("test_greedy", "test", "_greedy")

    def predict_step(self, batch: CaptionBatch, batch_idx: int) -> list[str]:
        """The best caption of each image."""
        return self.caption(batch.grids)

    def configure_optimizers(self):
        return optimizer_config(self.parameters(), self.optimizer, self.lr_scheduler)
