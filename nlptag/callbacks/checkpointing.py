"""Checkpoints that survive a crash and a resume that repeats the uninterrupted run.

- :class:`AtomicCheckpointIO` writes every checkpoint to a temporary file beside it, fsyncs and
  renames it (Lightning's own writer stages it in ``$TMPDIR``, which is a copy, not a rename,
  when that is another filesystem, so a kill can leave a corrupt checkpoint).
- :func:`run_checkpoints` gives the two checkpoints of a run: ``best.ckpt`` by the task's main
  metric and ``last.ckpt`` written at the end of **every** epoch (Lightning's ``save_last``
  writes it only when a top-k checkpoint was saved, so it lags behind the run).
- :class:`ExactResume` makes a run killed at any moment and resumed with ``--ckpt_path last``
  end exactly as the uninterrupted run: the random generators are re-seeded from the run's
  seed and the epoch before the first batch of every epoch (the batch order already depends only on
  them), and rows the killed run logged after its last checkpoint are dropped from
  ``metrics.csv``. The granularity is one epoch: the work of a partly done epoch is redone.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.types import _PATH
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint

from nlptag.callbacks.run_logger import RunLogger
from nlptag.files import write_with

EPOCH_SEED_STRIDE = 1_000_003
"""``seed * EPOCH_SEED_STRIDE + epoch`` seeds an epoch: distinct for every (seed, epoch) pair
with fewer than a million epochs."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a temporary file in the checkpoint's directory, fsync, rename; a
    failed write (disk full) keeps the previous checkpoint and is one clear error."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_with(path, lambda temporary: torch.save(checkpoint, temporary), what="checkpoint")


def run_checkpoints(monitor: str, mode: str) -> list[ModelCheckpoint]:
    """``checkpoints/best.ckpt`` (best ``monitor`` by ``mode``) and ``checkpoints/last.ckpt``
    (the end of the latest epoch)."""
    best = ModelCheckpoint(
        monitor=monitor, mode=mode, filename="best", save_top_k=1, enable_version_counter=False
    )
    last = ModelCheckpoint(
        filename="last", save_top_k=1, every_n_epochs=1, enable_version_counter=False
    )
    return [best, last]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of ``epoch`` in a run seeded with ``seed``."""
    return (seed * EPOCH_SEED_STRIDE + epoch) % (2**63)


class ExactResume(Callback):
    """Re-seeds torch, ``random`` and numpy before the first batch of every training epoch
    from ``seed`` and the epoch, and trims ``metrics.csv`` to the checkpoint when a run resumes.

    Args:
        seed: the run's seed (``seed_everything``); None leaves the generators alone (a run
            without a seed cannot be repeated, resumed or not).
    """

    def __init__(self, seed: int | None = 0) -> None:
        self.seed = None if seed is None else int(seed)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, RunLogger):
                # the loops are restored: the checkpoint ended epoch current_epoch - 1, and
                # what a killed run logged after it is done (and logged) again; a run started
                # afresh drops the rows of one that died before its first checkpoint
                logger.drop_rows_from_epoch(trainer.current_epoch if trainer.ckpt_path else 0)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # at the first batch rather than at ``on_train_epoch_start``, which Lightning skips for
        # the first epoch of a run resumed from an end-of-epoch checkpoint
        if self.seed is None or batch_idx != 0:
            return
        seed = epoch_seed(self.seed, trainer.current_epoch) + trainer.global_rank
        torch.manual_seed(seed)
        random.seed(seed)
        numpy.random.seed(seed % 2**32)

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # rows logged up to this checkpoint are on disk before the checkpoint is
        for logger in trainer.loggers:
            logger.save()
