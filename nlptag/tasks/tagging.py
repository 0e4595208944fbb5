"""Sequence tagging (POS): the :class:`~nlptag.models.tagger.TaggerNetwork` trained with its
head's loss and scored by micro-averaged token accuracy.

Shapes: ``B`` batch, ``T`` time, ``H`` encoder output size, ``C`` tags.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from nlptag.metrics.percent import PercentAccuracy
from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.models.heads import SoftmaxHead, TagPrediction
from nlptag.models.tagger import EmbedderFactory, EncoderFactory, HeadFactory, TaggerNetwork
from nlptag.tasks.optimization import optimizer_config
from nlptag.text.encoding import TaggingBatch

STAGES = ("val", "test")
"""Stages with metrics; training logs only its loss (decoding every batch would slow it down)."""


def gold_names(module: pl.LightningModule, attribute: str, names: list[str]) -> list[str]:
    """The data module's ``attribute`` (gold tag or label names: ``names`` followed by those
    that training never had), or ``names`` when there is none or it does not start with them."""
    trainer = module._trainer
    found = getattr(getattr(trainer, "datamodule", None), attribute, None)
    if found is None or list(found[: len(names)]) != list(names):
        return list(names)
    return list(found)


class SequenceTagger(pl.LightningModule):
    """Trains a :class:`~nlptag.models.tagger.TaggerNetwork` built from the pieces below; the
    head (softmax or CRF) decides loss and decoding.

    Args:
        num_words: word vocabulary size (linked from the data module).
        num_chars: character vocabulary size (linked from the data module).
        tag_names: the tags, in id order (linked from the data module).
        embedder: builds the word representation.
        encoder: builds the recurrent encoder.
        head: builds the output head.
        optimizer: the optimizer, given the parameters.
        lr_scheduler: an optional LR schedule, stepped once per epoch; a ReduceLROnPlateau
            schedule watches ``val/loss``.
    """

    main_metric = "val/acc"
    main_metric_mode = "max"

    def __init__(
        self,
        num_words: int = 2,
        num_chars: int = 2,
        tag_names: list[str] | None = None,
        embedder: EmbedderFactory = WordEmbedder,
        encoder: EncoderFactory = RecurrentEncoder,
        head: HeadFactory = SoftmaxHead,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.network = TaggerNetwork(num_words, num_chars, tag_names, embedder, encoder, head)
        self.tag_names = self.network.tag_names
        self.gold_tag_names = list(self.tag_names)
        """The tags of the gold ids: ``tag_names``, then tags of the evaluation data that
        training never had (ids the model cannot predict; see :meth:`setup`)."""
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.accuracy = nn.ModuleDict(
            {stage: PercentAccuracy(len(self.tag_names), average="micro") for stage in STAGES}
        )

    def forward(self, batch: TaggingBatch) -> torch.Tensor:
        """Encoder features (B, T, H)."""
        return self.network(batch.words, batch.chars, batch.lengths)

    def setup(self, stage: str) -> None:
        """Take the gold tags of the data module (its ``evaluation_tag_names``): a tag of the
        evaluation data that training never had has an id past ``tag_names``, which the model
        cannot predict, so its tokens count as errors; the metrics are sized for it."""
        names = gold_names(self, "evaluation_tag_names", self.tag_names)
        if len(names) > len(self.gold_tag_names):
            self.gold_tag_names = names
            self.accuracy = nn.ModuleDict(
                {stage: PercentAccuracy(len(names), average="micro") for stage in STAGES}
            )

    @property
    def head(self):
        """The network's tagging head (loss and decoding)."""
        return self.network.head

    def decode(self, batch: TaggingBatch) -> TagPrediction:
        return self.head.decode(self(batch), batch.mask)

    def _step(self, batch: TaggingBatch, stage: str) -> torch.Tensor | None:
        features = self(batch)
        # sentences with a tag training never had have no loss: the head has no score for it
        known = ((batch.tags < len(self.tag_names)) | ~batch.mask).all(dim=1)  # (B,)
        loss = None
        if known.all():
            loss = self.head.loss(features, batch.tags, batch.mask)
        elif known.any():
            loss = self.head.loss(features[known], batch.tags[known], batch.mask[known])
        if loss is not None:
            size = int(known.sum())
            sync = stage != "train"
            self.log(f"{stage}/loss", loss, batch_size=size, sync_dist=sync, prog_bar=True)
        if stage != "train":
            self.evaluate(stage, self.head.decode(features, batch.mask), batch)
        return loss

    def evaluate(self, stage: str, prediction: TagPrediction, batch: TaggingBatch) -> None:
        """Update and log the stage's metrics: micro-averaged token accuracy, in percent."""
        accuracy = self.accuracy[stage]
        accuracy(prediction.tags[batch.mask], batch.tags[batch.mask])
        self.log(f"{stage}/acc", accuracy, batch_size=batch.words.size(0), prog_bar=True)

    def training_step(self, batch: TaggingBatch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: TaggingBatch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: TaggingBatch, batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(self, batch: TaggingBatch, batch_idx: int) -> list[list[str]]:
        prediction = self.decode(batch)
        return [
            [self.tag_names[t] for t in tags[:length].tolist()]
            for tags, length in zip(prediction.tags, batch.lengths.tolist())
        ]

    def configure_optimizers(self):
        return optimizer_config(self.parameters(), self.optimizer, self.lr_scheduler)
