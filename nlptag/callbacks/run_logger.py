"""The run's CSV log (in the run directory, continued when a run resumes) and its clock."""

from __future__ import annotations

import csv
import time

from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from nlptag.files import atomic_open


class _AppendingWriter(ExperimentWriter):
    """Continues an existing ``metrics.csv`` (Lightning's writer deletes it) and rewrites it
    whole on every save, crash-safely (temporary file, fsync, rename), so a kill never leaves
    a half-written row."""

    def _check_log_dir_exists(self) -> None:
        self.rows: list[dict[str, str]] = []
        if self._fs.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                self.metrics_keys = list(reader.fieldnames or [])
                self.rows = list(reader)

    def save(self) -> None:
        if not self.metrics:
            return
        self._record_new_keys()
        self.rows.extend({key: _cell(value) for key, value in row.items()} for row in self.metrics)
        self.metrics = []
        self._write()

    def drop_rows_from_epoch(self, epoch: int) -> int:
        """Remove the rows of epochs ``>= epoch`` (and rows of no epoch logged after them);
        returns how many were removed."""
        kept: list[dict[str, str]] = []
        for row in self.rows:
            value = row.get("epoch", "")
            if value not in ("", None) and float(value) >= epoch:
                break
            kept.append(row)
        removed = len(self.rows) - len(kept)
        if removed:
            self.rows = kept
            self._write()
        return removed

    def _write(self) -> None:
        with atomic_open(self.metrics_file_path, "w", what="metrics file") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(self.rows)


def _cell(value: object) -> str:
    return "" if value is None else str(value)


class RunLogger(CSVLogger):
    """``metrics.csv`` and ``hparams.yaml`` in ``save_dir`` itself (no version sub-folders), so a
    run resumed with ``--ckpt_path last`` keeps one continuous log."""

    def __init__(self, save_dir: str = "runs/default") -> None:
        super().__init__(save_dir, name="", version="")

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment

    def drop_rows_from_epoch(self, epoch: int) -> int:
        """Forget what a killed run logged from ``epoch`` on (it is logged again on resume)."""
        self.experiment.metrics = []
        return self.experiment.drop_rows_from_epoch(epoch)


class TrainingClock(Callback):
    """Logs, after every training epoch, the wall-clock and process CPU minutes spent in ``fit``
    (``time/wall_minutes``, ``time/cpu_minutes``): CPU time is the honest cost of a run on a
    machine shared with other jobs. The totals are saved in checkpoints, so a run resumed with
    ``--ckpt_path last`` keeps counting from the checkpoint (the interrupted, unsaved part of an
    epoch is not counted)."""

    def __init__(self) -> None:
        self.carried = {"wall_minutes": 0.0, "cpu_minutes": 0.0}
        self.wall_start = time.perf_counter()
        self.cpu_start = time.process_time()

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.wall_start = time.perf_counter()
        self.cpu_start = time.process_time()

    def totals(self) -> dict[str, float]:
        wall = (time.perf_counter() - self.wall_start) / 60
        cpu = (time.process_time() - self.cpu_start) / 60
        return {
            "wall_minutes": self.carried["wall_minutes"] + wall,
            "cpu_minutes": self.carried["cpu_minutes"] + cpu,
        }

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        pl_module.log_dict(
            {f"time/{key}": value for key, value in self.totals().items()}, rank_zero_only=True
        )

    def state_dict(self) -> dict[str, float]:
        return self.totals()

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.carried = {key: float(state_dict.get(key, 0.0)) for key in self.carried}
