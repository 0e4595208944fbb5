"""LightningCLI's fit/validate/test/predict for every nlptag task: one parser, run directories,
checkpoints by the task's main metric, and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from nlptag.callbacks.prediction_writer import PredictionWriter
from nlptag.callbacks.run_logger import TrainingClock
from nlptag.inference.checkpoints import load_checkpoint

# Values derived from the data, linked into the model when both have them.
DATA_TO_MODEL_LINKS = (
    "num_words",
    "num_chars",
    "tag_names",
    "label_names",
    "vocabulary",
    "data_scheme",
    "tag_scheme",
    "source_vocab_size",
    "target_vocab_size",
    "shared_vocabulary",
    "feature_size",
)


class NlptagArgumentParser(LightningArgumentParser):
    """Reports a bad option or config key in one paragraph instead of the whole usage text."""

    _INFORMATIVE = ("not accepted", "not expected", "No action", "unrecognized", "Problem with")

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        lines = [line.strip() for line in str(message).splitlines() if line.strip()]
        kept = lines[:1] + [line for line in lines[1:] if any(k in line for k in self._INFORMATIVE)]
        print(
            f"nlptag: error: {' '.join(kept)} (see `nlptag <command> --help` for the options)",
            file=sys.stderr,
        )
        sys.exit(2)


class NlptagCLI(LightningCLI):
    """One CLI for every task: model and data classes are chosen by ``class_path`` in the YAML.

    Each run logs to ``trainer.default_root_dir`` itself (no version sub-folders), so
    ``--ckpt_path last`` finds ``<run>/checkpoints/last.ckpt`` again after an interruption.
    """

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        super().__init__(
            LightningModule,
            None,
            subclass_mode_model=True,
            subclass_mode_data=True,
            trainer_defaults={"use_distributed_sampler": False, "default_root_dir": "runs/default"},
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
            parser_class=NlptagArgumentParser,
            args=args,
            run=run,
        )

    def _parse_ckpt_path(self) -> None:
        """Lightning reads the model's hyperparameters from ``--ckpt_path`` and imports the
        class paths they name: read the checkpoint safely and check them against the allow-list
        first (a garbage or truncated file is one clear error, too)."""
        subcommand = self.config.get("subcommand")
        if subcommand:
            ckpt_path = self.config[subcommand].get("ckpt_path")
            if ckpt_path and Path(ckpt_path).is_file():
                load_checkpoint(ckpt_path)  # checks every class path it holds
        super()._parse_ckpt_path()

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for name in DATA_TO_MODEL_LINKS:
            parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        if trainer.logger in (None, True):
            trainer.logger = {
                "class_path": "nlptag.callbacks.run_logger.RunLogger",
                "init_args": {"save_dir": trainer.default_root_dir},
            }

    def instantiate_trainer(self, **kwargs) -> Trainer:
        configured = self._get(self.config_init, "trainer", default={}).get("callbacks") or []
        callbacks = list(configured)
        if not any(isinstance(callback, ModelCheckpoint) for callback in callbacks):
            # checkpoints/best.ckpt by the task's main metric, and checkpoints/last.ckpt
            callbacks.append(
                ModelCheckpoint(
                    monitor=self.model.main_metric,
                    mode=self.model.main_metric_mode,
                    filename="best",
                    save_last=True,
                    save_top_k=1,
                    enable_version_counter=False,
                )
            )
        if self.subcommand == "fit":
            callbacks.append(TrainingClock())
        if self.subcommand == "predict":
            callbacks.append(PredictionWriter())
        return super().instantiate_trainer(callbacks=callbacks, **kwargs)

    def _write_metrics(self, prefix: str) -> None:
        metrics = {
            key: float(value)
            for key, value in self.trainer.callback_metrics.items()
            if key.startswith(prefix)
        }
        path = Path(self.trainer.log_dir or self.trainer.default_root_dir) / "metrics.json"
        if self.trainer.is_global_zero:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
            print(f"metrics written to {path}")

    def after_validate(self) -> None:
        self._write_metrics("val/")

    def after_test(self) -> None:
        self._write_metrics("test/")
