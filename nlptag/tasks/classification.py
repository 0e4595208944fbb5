"""Text classification (sentiment): the :class:`~nlptag.models.classifier.ClassifierNetwork`
trained with cross-entropy, scored by accuracy and macro F1.

Shapes: ``B`` batch, ``T`` time, ``H`` encoder output size, ``P`` pooled size, ``C`` labels.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MetricCollection

from nlptag.errors import NlptagError
from nlptag.metrics.percent import PercentAccuracy, PercentF1
from nlptag.models.classifier import (
    ClassifierNetwork,
    EmbedderFactory,
    EncoderFactory,
    PoolingFactory,
)
from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.models.pooling import MaxPooling
from nlptag.tasks.optimization import optimizer_config
from nlptag.tasks.tagging import gold_names
from nlptag.text.encoding import ClassificationBatch


def stage_metrics(num_labels: int, stage: str) -> MetricCollection:
    """Accuracy (micro) and macro-averaged F1 in percent, logged as ``<stage>/acc`` and
    ``<stage>/f1``."""
    return MetricCollection(
        {
            "acc": PercentAccuracy(num_labels, average="micro"),
            "f1": PercentF1(num_labels, average="macro"),
        },
        prefix=f"{stage}/",
    )


class SequenceClassifier(pl.LightningModule):
    """Gives each text one label: trains a :class:`~nlptag.models.classifier.ClassifierNetwork`
    built from the pieces below with cross-entropy.

    Args:
        num_words: word vocabulary size (linked from the data module).
        num_chars: character vocabulary size (linked from the data module).
        label_names: the labels, in id order (linked from the data module).
        embedder: builds the word representation.
        encoder: builds the recurrent encoder.
        pooling: builds the pooling over time (final states, max, mean or attention).
        dropout: dropout on the pooled vector, before the output layer.
        label_smoothing: cross-entropy label smoothing, in [0, 1).
        class_weights: one cross-entropy weight per label, in ``label_names`` order
            (``None``: all 1), e.g. to up-weight rare classes.
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
        label_names: list[str] | None = None,
        embedder: EmbedderFactory = WordEmbedder,
        encoder: EncoderFactory = RecurrentEncoder,
        pooling: PoolingFactory = MaxPooling,
        dropout: float = 0.5,
        label_smoothing: float = 0.0,
        class_weights: list[float] | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.label_names = list(label_names or ["0", "1"])
        num_labels = len(self.label_names)
        if class_weights is not None and len(class_weights) != num_labels:
            raise NlptagError(
                f"model.class_weights has {len(class_weights)} weights for {num_labels} labels "
                f"({', '.join(self.label_names)})"
            )
        if not 0.0 <= label_smoothing < 1.0:
            raise NlptagError("model.label_smoothing must be in [0, 1)")
        try:
            self.network = ClassifierNetwork(
                num_words, num_chars, num_labels, embedder, encoder, pooling, dropout
            )
        except ValueError as error:
            raise NlptagError(f"model.{error}") from None
        weights = torch.tensor(class_weights, dtype=torch.float) if class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)
        self.label_smoothing = label_smoothing
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.train_metrics = stage_metrics(num_labels, "train")
        self.val_metrics = stage_metrics(num_labels, "val")
        self.test_metrics = stage_metrics(num_labels, "test")

    def setup(self, stage: str) -> None:
        """Take the gold labels of the data module (its ``evaluation_label_names``): a label of
        the evaluation data that training never had has an id past ``label_names``, which the
        model cannot predict, so its texts count as errors; the metrics are sized for it."""
        names = gold_names(self, "evaluation_label_names", self.label_names)
        if len(names) > self.val_metrics["acc"].num_classes:
            self.val_metrics = stage_metrics(len(names), "val")
            self.test_metrics = stage_metrics(len(names), "test")

    def forward(self, batch: ClassificationBatch) -> torch.Tensor:
        """Label scores (B, C)."""
        return self.network(batch.words, batch.chars, batch.lengths)

    def _step(
        self, batch: ClassificationBatch, stage: str, metrics: MetricCollection
    ) -> torch.Tensor | None:
        logits = self(batch)
        size = batch.words.size(0)
        # texts with a label training never had have no loss: there is no logit for it
        known = batch.labels < len(self.label_names)  # (B,)
        loss = None
        if known.any():
            loss = nn.functional.cross_entropy(
                logits[known],
                batch.labels[known],
                weight=self.class_weights,
                label_smoothing=self.label_smoothing,
            )
            sync = stage != "train"
            self.log(
                f"{stage}/loss", loss, batch_size=int(known.sum()), sync_dist=sync, prog_bar=True
            )
        metrics(logits.argmax(dim=-1), batch.labels)
        self.log_dict(metrics, batch_size=size, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def training_step(self, batch: ClassificationBatch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch: ClassificationBatch, batch_idx: int) -> None:
        self._step(batch, "val", self.val_metrics)

    def test_step(self, batch: ClassificationBatch, batch_idx: int) -> None:
        self._step(batch, "test", self.test_metrics)

    def predict_step(self, batch: ClassificationBatch, batch_idx: int) -> list[dict]:
        """One ``{"index", "label", "probabilities"}`` per text; ``index`` is its position in the
        predicted file (batches are sorted by length), ``probabilities`` maps each label to its
        probability."""
        probabilities = self(batch).softmax(dim=-1)  # (B, C)
        return [
            {
                "index": index,
                "label": self.label_names[label],
                "probabilities": dict(zip(self.label_names, row, strict=True)),
            }
            for index, label, row in zip(
                batch.index.tolist(),
                probabilities.argmax(dim=-1).tolist(),
                probabilities.tolist(),
                strict=True,
            )
        ]

    def configure_optimizers(self):
        return optimizer_config(self.parameters(), self.optimizer, self.lr_scheduler)
