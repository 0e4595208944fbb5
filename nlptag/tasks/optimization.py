"""The optimizer and LR schedule every task takes from its config."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable


def optimizer_config(
    parameters: Iterable[torch.nn.Parameter],
    optimizer: OptimizerCallable,
    lr_scheduler: LRSchedulerCallable | None = None,
    interval: Literal["epoch", "step"] = "epoch",
) -> Any:
    """What ``configure_optimizers`` returns: the optimizer, and the LR schedule stepped every
    ``interval``; a ReduceLROnPlateau schedule watches ``val/loss``."""
    built = optimizer(parameters)
    if lr_scheduler is None:
        return built
    scheduler = lr_scheduler(built)
    return {
        "optimizer": built,
        "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss", "interval": interval},
    }
