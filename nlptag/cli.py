"""The ``nlptag`` command: LightningCLI's fit/validate/test/predict plus nlptag's own tools."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import NoReturn

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from nlptag.errors import NlptagError
from nlptag.prediction_writer import PredictionWriter
from nlptag.run_logger import TrainingClock

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
)

# nlptag's own commands beside LightningCLI's fit/validate/test/predict: name -> "module:function",
# each function taking the remaining arguments and returning an exit status.
TOOLS = {
    "conlleval": ("nlptag.conlleval:main", "score a CoNLL prediction file like conlleval"),
    "export": ("nlptag.export:main", "write a checkpoint as a bundle (safetensors + JSON)"),
    "tag": ("nlptag.commands:tag_main", "tag text, CoNLL or CoNLL-U with a tagger bundle"),
    "classify": ("nlptag.commands:classify_main", "label texts with a classifier bundle"),
    "translate": ("nlptag.commands:translate_main", "translate sentences with a seq2seq bundle"),
    "attention": ("nlptag.commands:attention_main", "save a translation's attention as a PNG"),
    "generate": ("nlptag.generate:main", "sample text from a character language model bundle"),
    "evaluate": ("nlptag.commands:evaluate_main", "a bundle's test metrics on a file, as JSON"),
    "serve": ("nlptag.serving.cli:serve_main", "serve bundles over HTTP (JSON API, web demo)"),
}


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

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for name in DATA_TO_MODEL_LINKS:
            parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        if trainer.logger in (None, True):
            trainer.logger = {
                "class_path": "nlptag.run_logger.RunLogger",
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


_TOOLS_HELP = "nlptag tools (besides the Lightning subcommands below):\n" + "\n".join(
    f"  {name:<12} {help_text}" for name, (_, help_text) in TOOLS.items()
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nlptag`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] in TOOLS:
            module_name, function_name = TOOLS[args[0]][0].split(":")
            module = importlib.import_module(module_name)
            return getattr(module, function_name)(args[1:])
        if args and args[0] in ("-h", "--help"):
            print(_TOOLS_HELP)
        NlptagCLI(args=None if argv is None else args)
    except Exception as error:  # noqa: BLE001 - only nlptag's own errors are reported briefly
        cause = _nlptag_cause(error)
        if cause is None:
            raise
        print(f"nlptag: error: {cause}", file=sys.stderr)
        return 2
    return 0


def _nlptag_cause(error: BaseException | None) -> NlptagError | None:
    """The NlptagError behind ``error``: itself, or one that jsonargparse wrapped while
    instantiating a class from the config."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, NlptagError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


if __name__ == "__main__":
    sys.exit(main())
