"""Callbacks used by the CLI tests through ``--trainer.callbacks`` (importable by class path)."""

import os
import signal

import pytorch_lightning as pl


class KillAtEpochStart(pl.Callback):
    """Kills its own process (SIGKILL, no cleanup) when training epoch ``epoch`` starts, i.e.
    after the previous epoch's checkpoints were written: a run stopped as hard as it gets."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


class KillAtStep(pl.Callback):
    """Kills its own process (SIGKILL) just before optimizer step ``step`` (a global step),
    wherever that falls inside an epoch."""

    def __init__(self, step: int = 1) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
