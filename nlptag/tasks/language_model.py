"""Character-level language modelling with truncated backpropagation through time (TBPTT).

Each batch is the next chunk of B contiguous streams (``data_modules.text``); the recurrent state
is carried from chunk to chunk, detached so gradients stop at the chunk boundary, and reset at the
start of every epoch. Losses are in nats per character; ``bpc`` is bits per character.

Shapes: ``B`` batch (streams), ``T`` steps per chunk, ``V`` characters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torchmetrics.aggregation import MeanMetric

from nlptag.models.language_model import CharRNN, State, detach_state
from nlptag.tasks.optimization import optimizer_config
from nlptag.text.encoding import LMBatch
from nlptag.text.vocabulary import UNK, Vocabulary

NetworkFactory = Callable[[int], CharRNN]
"""(num_chars) -> language model network."""


class CharLanguageModel(pl.LightningModule):
    """Predicts every next character of a text; samples new text with :meth:`generate`.

    Args:
        num_chars: vocabulary size (linked from the data module).
        vocabulary: the characters in id order, ``<unk>`` first (linked from the data module);
            needed to turn text into ids and back for :meth:`generate`.
        network: builds the network from the vocabulary size.
        optimizer: the optimizer, given the parameters.
        lr_scheduler: an optional LR schedule; a ReduceLROnPlateau schedule watches ``val/loss``.
        lr_scheduler_interval: step the schedule every ``epoch`` or every optimizer ``step``.
    """

    main_metric = "val/loss"
    main_metric_mode = "min"

    def __init__(
        self,
        num_chars: int = 2,
        vocabulary: list[str] | None = None,
        network: NetworkFactory = CharRNN,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        lr_scheduler_interval: Literal["epoch", "step"] = "epoch",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if vocabulary is not None and len(vocabulary) != num_chars:
            raise ValueError(f"vocabulary has {len(vocabulary)} entries, num_chars is {num_chars}")
        self.vocabulary = Vocabulary(vocabulary) if vocabulary is not None else None
        self.num_chars = num_chars
        self.network = network(num_chars)
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.lr_scheduler_interval = lr_scheduler_interval
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self._states: dict[str, State | None] = {}

    def forward(
        self, inputs: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Logits (B, T, V) of the next characters and the state after the chunk."""
        return self.network(inputs, state)

    def state(self, stage: str) -> State | None:
        """The (detached) state carried into the next chunk of ``train``, ``val`` or ``test``."""
        return self._states.get(stage)

    def reset_state(self, stage: str) -> None:
        self._states.pop(stage, None)

    def _loss(self, batch: LMBatch, stage: str) -> torch.Tensor:
        """Mean loss over the chunk's B * T characters, in nats; carries the state forward."""
        state = self._states.get(stage)
        if state is not None and _batch_size(state) != batch.inputs.size(0):
            state = None  # a different number of streams: nothing to continue
        logits, state = self(batch.inputs, state)
        self._states[stage] = detach_state(state)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch.targets.reshape(-1))

    def on_train_epoch_start(self) -> None:
        self.reset_state("train")

    def on_validation_epoch_start(self) -> None:
        self.reset_state("val")

    def on_test_epoch_start(self) -> None:
        self.reset_state("test")

    def training_step(self, batch: LMBatch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch, "train")
        self.log("train/loss", loss, batch_size=batch.targets.numel(), prog_bar=True)
        return loss

    def validation_step(self, batch: LMBatch, batch_idx: int) -> None:
        self.val_loss.update(self._loss(batch, "val"), weight=batch.targets.numel())

    def test_step(self, batch: LMBatch, batch_idx: int) -> None:
        self.test_loss.update(self._loss(batch, "test"), weight=batch.targets.numel())

    def _log_epoch(self, stage: str, metric: MeanMetric) -> None:
        loss = metric.compute()  # mean over all characters of all ranks
        metric.reset()
        self.log(f"{stage}/loss", loss, prog_bar=True)
        self.log(f"{stage}/bpc", loss / math.log(2))
        self.log(f"{stage}/ppl", loss.exp())

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val", self.val_loss)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", self.test_loss)

    def configure_optimizers(self):
        return optimizer_config(
            self.parameters(), self.optimizer, self.lr_scheduler, self.lr_scheduler_interval
        )

    def generate(
        self,
        prime: str,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> str:
        """``length`` characters sampled after reading ``prime`` (not repeated in the result).

        Characters of the prime outside the vocabulary are read as ``<unk>``, which is never
        produced. ``temperature`` 0 is greedy; lower temperatures give safer, more repetitive
        text. Pass a seeded ``torch.Generator`` (CPU) for reproducible samples.
        """
        if self.vocabulary is None:
            raise ValueError("generate needs the model's vocabulary (init argument `vocabulary`)")
        if not prime:
            raise ValueError("generate needs a prime of at least one character")
        ids = torch.tensor([self.vocabulary.ids(prime)], device=self.device)  # (1, P)
        was_training = self.training
        self.eval()
        try:
            produced = self.network.generate(
                ids, length, temperature, top_k, generator, banned=[self.vocabulary.id(UNK)]
            )
        finally:
            self.train(was_training)
        return "".join(self.vocabulary.lookup(produced[0].tolist()))


def _batch_size(state: State) -> int:
    return (state[0] if isinstance(state, tuple) else state).size(1)
