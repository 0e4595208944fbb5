"""``nlptag predict`` output: one JSON line per example, in the order of the input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter

from nlptag.files import atomic_open


class PredictionWriter(BasePredictionWriter):
    """Collects ``predict_step`` outputs (one item per example) and writes
    ``<run dir>/predictions.jsonl`` as ``{"index": i, "prediction": ...}`` lines sorted by the
    example's position in the input, whatever order the length-bucketed batches had."""

    def __init__(self) -> None:
        super().__init__(write_interval="batch")
        self.rows: list[tuple[int, Any]] = []

    def write_on_batch_end(
        self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx
    ) -> None:
        self.rows += list(zip(batch_indices, prediction, strict=True))

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # trainer.log_dir is a collective under DDP: every rank asks for it
        path = Path(trainer.log_dir or trainer.default_root_dir) / "predictions.jsonl"
        rows = [self.rows]
        if trainer.world_size > 1 and torch.distributed.is_initialized():
            rows = [None] * trainer.world_size
            torch.distributed.all_gather_object(rows, self.rows)
        if trainer.is_global_zero:
            path.parent.mkdir(parents=True, exist_ok=True)
            merged = sorted((row for part in rows for row in part), key=lambda row: row[0])
            with atomic_open(path, "w", what="predictions file") as handle:
                for index, prediction in merged:
                    handle.write(json.dumps({"index": index, "prediction": prediction}) + "\n")
            print(f"predictions written to {path}")
        self.rows = []
