"""LightningCLI's fit/validate/test/predict for every nlptag task: one parser, run directories
(locked while a ``fit`` runs), crash-safe checkpoints by the task's main metric plus the last
epoch, exact resume, a quiet console and one-line errors."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import NoReturn

import torch
from lightning_fabric.plugins import CheckpointIO
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.plugins.precision import Precision

from nlptag.callbacks.checkpointing import AtomicCheckpointIO, ExactResume, run_checkpoints
from nlptag.callbacks.precision import BF16MixedPrecision, Float32Precision
from nlptag.callbacks.prediction_writer import PredictionWriter
from nlptag.callbacks.run_logger import TrainingClock
from nlptag.cli.hardware import cpu_bf16_check
from nlptag.cli.memory import reuse_freed_memory
from nlptag.cli.run_directory import (
    is_main_process,
    lock_run_directory,
    release_run_directory,
)
from nlptag.errors import NlptagError
from nlptag.files import write_text_atomically
from nlptag.inference.checkpoints import load_checkpoint

QUIET_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric")
"""Their info lines (accelerator summary, seed, tips, "fit stopped") are not printed unless
``NLPTAG_VERBOSE=1``; warnings still are."""

QUIET_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r"Checkpoint directory .* exists and is not empty",  # a resumed run writes there again
    # test/predict of a checkpoint from another run directory: nothing is resumed there
    r"The dirpath has changed from .* won't be reloaded",
    # every evaluation sampler of nlptag returns each example once (BucketBatchSampler)
    r"You are using a custom batch sampler `BucketBatchSampler` for prediction",
    # bf16-mixed keeps float32 weights: the summary's 32-bit size is the right one
    r"Precision bf16-mixed is not supported by the model summary",
)
"""Warnings raised inside Lightning that a user cannot act on, or that describe what nlptag
does on purpose."""


def quiet_console() -> None:
    """Keep a normal run's console to the progress bar, warnings and nlptag's own lines."""
    if os.environ.get("NLPTAG_VERBOSE") == "1":
        return
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


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
    """Reports a bad option, config key or config file in one paragraph instead of the whole
    usage text: the option (or key), what was expected and what was given; a YAML syntax error
    with the file and line; a ``--ckpt_path`` that is not a file before anything is built."""

    _INFORMATIVE = ("not accepted", "not expected", "No action", "unrecognized", "Problem with")
    _argv: list[str] = []
    """The arguments of the last parse (subcommand parsers report errors without them)."""
    _parsing = False

    def parse_args(self, args=None, *rest, **kwargs):
        if self._parsing:  # jsonargparse parses nested class arguments with parsers of its own
            return super().parse_args(args, *rest, **kwargs)
        argv = [str(arg) for arg in (sys.argv[1:] if args is None else args)]
        NlptagArgumentParser._argv = argv
        problem = config_file_problem(argv)
        if problem is not None:
            self._exit(problem)
        NlptagArgumentParser._parsing = True
        try:
            config = super().parse_args(args, *rest, **kwargs)
        finally:
            NlptagArgumentParser._parsing = False
        problem = ckpt_path_problem(config)
        if problem is not None:
            self._exit(problem)
        return config

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        self._exit(
            f"{summarize_parser_error(str(message), self._argv)} "
            "(see `nlptag <command> --help` for the options)"
        )

    @staticmethod
    def _exit(text: str) -> NoReturn:
        print(f"nlptag: error: {text}", file=sys.stderr)
        sys.exit(2)


_CONFIG_OPTIONS = ("--config", "-c")
_LIGHTNING_CKPT_NAMES = ("best", "last", "hpc", "registry")
"""``--ckpt_path`` values that Lightning resolves itself, not file names."""


def config_paths(argv: list[str]) -> list[Path]:
    """The ``--config`` values of ``argv`` that are files, in order (a missing one is
    jsonargparse's to report; a value may also be inline YAML)."""
    paths = []
    for i, arg in enumerate(argv):
        name, equals, value = arg.partition("=")
        if name in _CONFIG_OPTIONS:
            path = Path(value if equals else (argv[i + 1] if i + 1 < len(argv) else ""))
            if path.is_file():
                paths.append(path)
    return paths


def config_file_problem(argv: list[str]) -> str | None:
    """``<file>:<line>: ...`` for the first ``--config`` file that is not valid YAML."""
    import yaml

    for path in config_paths(argv):
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            return f"{path}: not UTF-8 text; save the config file as UTF-8"
        except OSError as error:
            return f"{path}: cannot be read ({error.strerror or error})"
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            context = getattr(error, "context", None)
            context_mark = getattr(error, "context_mark", None)
            if context and context_mark is not None:
                problem += f", {context} that starts on line {context_mark.line + 1}"
            if mark is not None:
                problem += f" (column {mark.column + 1})"
            return f"{where}: invalid YAML: {problem}"
    return None


def ckpt_path_problem(config) -> str | None:
    """A ``--ckpt_path`` that names no file (Lightning would stop with a traceback)."""
    subcommand = config.get("subcommand") if hasattr(config, "get") else None
    if not subcommand:
        return None
    ckpt_path = config[subcommand].get("ckpt_path")
    if ckpt_path is None:
        return None
    ckpt_path = str(ckpt_path)
    if ckpt_path.split(":")[0] in _LIGHTNING_CKPT_NAMES or "://" in ckpt_path:
        return None
    path = Path(ckpt_path)
    if path.is_dir():
        return f"--ckpt_path {path}: is a directory, not a checkpoint file"
    if not path.is_file():
        return f"--ckpt_path {path}: no such file"
    return None


def summarize_parser_error(message: str, argv: list[str]) -> str:
    """jsonargparse's report in one line: for a value of the wrong type, the option as the
    user wrote it (or the config key), the expected type and the given value."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return "invalid arguments"
    found = re.match(r'Parser key "([^"]+)":\s*(.*)', lines[0])
    if found is None:
        kept = lines[:1] + [
            line for line in lines[1:] if any(k in line for k in NlptagArgumentParser._INFORMATIVE)
        ]
        return " ".join(kept)
    key, rest = found.group(1), " ".join([found.group(2), *lines[1:]]).strip()
    option = _option_for_key(key, argv)
    expected = []
    for line in lines[1:] if not found.group(2) else [found.group(2), *lines[1:]]:
        match = re.match(r"-?\s*Expected an? (.+?)(?:\. Got value: .*)?$", line)
        if match and _type_name(match.group(1)) not in expected:
            expected.append(_type_name(match.group(1)))
    given = re.search(r"(?:Given value|Got value): (.*?)(?:$|\s+-\s)", rest)
    if expected and given:
        return f"{option}: expected {' or '.join(expected)}, got {given.group(1)!r}"
    kept = [found.group(2)] if found.group(2) else []
    kept += [line for line in lines[1:] if not line.startswith(("Errors:", "Subtypes:"))]
    return f"{option}: {' '.join(kept)}".strip()


def _option_for_key(key: str, argv: list[str]) -> str:
    """``--a.b.key`` as given on the command line for jsonargparse's (possibly short) ``key``;
    else ``<file>:<line>: key`` of the config file line that sets it, else ``config key 'key'``."""
    for arg in argv:
        name = arg.partition("=")[0]
        if name.startswith("--") and (name[2:] == key or name[2:].endswith("." + key)):
            return name
    if key in ("config", "ckpt_path"):
        return f"--{key}"
    last = key.rsplit(".", 1)[-1]
    for path in reversed(config_paths(argv)):  # the last config file that sets it wins
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if re.match(rf"\s*{re.escape(last)}\s*:", line):
                return f"{path}:{number}: {last}"
    return f"config key {key!r}"


def _type_name(text: str) -> str:
    """``<class 'int'>`` -> ``int``, ``typing.Literal['a', 'b']`` -> ``one of 'a', 'b'``."""
    text = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", text).replace("NoneType", "None")
    literal = re.fullmatch(r"(?:typing\.)?Literal\[(.*)\]", text)
    return f"one of {literal.group(1)}" if literal else text


RUN_LOGGER = "nlptag.callbacks.run_logger.RunLogger"


class NlptagCLI(LightningCLI):
    """One CLI for every task: model and data classes are chosen by ``class_path`` in the YAML.

    Each run logs to ``trainer.default_root_dir`` itself (no version sub-folders), so
    ``--ckpt_path last`` finds ``<run>/checkpoints/last.ckpt`` again after an interruption.
    """

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        quiet_console()
        self._locked: Path | None = None
        try:
            self._start(args, run)
        finally:
            if self._locked is not None:
                release_run_directory(self._locked)

    def _start(self, args: list[str] | None, run: bool) -> None:
        super().__init__(
            LightningModule,
            None,
            subclass_mode_model=True,
            subclass_mode_data=True,
            trainer_defaults={
                "use_distributed_sampler": False,
                "default_root_dir": "runs/default",
                # a bar where someone watches, none in CI logs and pipes
                "enable_progress_bar": sys.stderr.isatty(),
            },
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

    def _check_run_directory(self, run_dir: Path, ckpt_path: str | None) -> None:
        """``fit`` owns its run directory: locked, resumed only on request, never mixed."""
        last = run_dir / "checkpoints" / "last.ckpt"
        if ckpt_path == "last" and not last.is_file():
            raise NlptagError(
                f"--ckpt_path last: {run_dir} holds no checkpoint to resume ({last} does not "
                "exist); drop --ckpt_path to start the run"
            )
        if is_main_process():
            lock_run_directory(run_dir)
            self._locked = run_dir
        if ckpt_path is None and last.is_file():
            raise NlptagError(
                f"{run_dir} already holds a run; resume it with --ckpt_path last, or start "
                "this one in a new --trainer.default_root_dir"
            )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for name in DATA_TO_MODEL_LINKS:
            parser.link_arguments(f"data.{name}", f"model.init_args.{name}", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        reuse_freed_memory()  # before the model and the data allocate anything
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        note = cpu_bf16_check(trainer.precision, trainer.accelerator)  # before the lock
        if note and is_main_process():
            print(note, file=sys.stderr)
        if self.subcommand == "fit":
            self._check_run_directory(Path(trainer.default_root_dir), config.get("ckpt_path"))
        if trainer.logger in (None, True):
            trainer.logger = {
                "class_path": RUN_LOGGER,
                "init_args": {"save_dir": trainer.default_root_dir},
            }
        elif getattr(trainer.logger, "class_path", None) == RUN_LOGGER:
            # a run's saved config.yaml names its own folder: given again with another
            # --trainer.default_root_dir, the new run must not log into (and overwrite) the old one
            trainer.logger.init_args.save_dir = trainer.default_root_dir

    def instantiate_trainer(self, **kwargs) -> Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        callbacks = list(trainer_config.get("callbacks") or [])
        if not any(isinstance(callback, ModelCheckpoint) for callback in callbacks):
            callbacks += run_checkpoints(self.model.main_metric, self.model.main_metric_mode)
        # in every subcommand, so a checkpoint's callback states always find their callback
        callbacks.append(TrainingClock())
        seed = os.environ.get("PL_GLOBAL_SEED")
        callbacks.append(ExactResume(int(seed) if seed is not None else None))
        if self.subcommand == "predict":
            callbacks.append(PredictionWriter())
        plugins = trainer_config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, list | tuple) else [plugins]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            plugins.append(AtomicCheckpointIO())
        precision = str(trainer_config.get("precision"))
        chosen = any(isinstance(plugin, Precision) for plugin in plugins)
        if precision in ("bf16", "bf16-mixed") and not chosen:
            # Lightning's own bf16 plugin refuses to clip the gradients of fused Adam
            accelerator = str(trainer_config.get("accelerator") or "auto")
            gpu = accelerator in ("gpu", "cuda") or (
                accelerator == "auto" and torch.cuda.is_available()
            )
            plugins.append(BF16MixedPrecision("cuda" if gpu else "cpu"))
            kwargs["precision"] = None  # given by the plugin
        elif precision in ("None", "32", "32-true") and not chosen:
            # Lightning's default precision, clipping without multiplying by 1
            plugins.append(Float32Precision())
            kwargs["precision"] = None
        return super().instantiate_trainer(callbacks=callbacks, plugins=plugins, **kwargs)

    def _write_metrics(self, prefix: str) -> None:
        metrics = {
            key: float(value)
            for key, value in self.trainer.callback_metrics.items()
            if key.startswith(prefix)
        }
        path = Path(self.trainer.log_dir or self.trainer.default_root_dir) / "metrics.json"
        if self.trainer.is_global_zero:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
            write_text_atomically(path, text, what="metrics file")
            print(f"metrics written to {path}")

    def after_fit(self) -> None:
        if not self.trainer.is_global_zero:
            return
        for callback in self.trainer.checkpoint_callbacks:
            if (
                isinstance(callback, ModelCheckpoint)
                and callback.monitor
                and callback.best_model_path
            ):
                score = callback.best_model_score
                shown = f" ({callback.monitor} {float(score):.4g})" if score is not None else ""
                print(f"best checkpoint: {callback.best_model_path}{shown}", file=sys.stderr)

    def before_predict(self) -> None:
        """PredictionWriter writes ``predictions.jsonl``; unless ``--return_predictions true``,
        Lightning does not also keep every prediction (moving each string of it to the CPU,
        a third of the time of a large predict)."""
        arguments = self.config_init["predict"]
        if arguments.get("return_predictions") is None:
            arguments["return_predictions"] = False

    def after_validate(self) -> None:
        self._write_metrics("val/")

    def after_test(self) -> None:
        self._write_metrics("test/")
