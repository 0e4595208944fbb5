"""Checkpoints read without unpickling, and task modules rebuilt from recorded class paths.

Bundles (:mod:`nlptag.bundle`) and the predictors (:mod:`nlptag.predictors`) build on these.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import instantiate_module

from nlptag.errors import NlptagError

# Class paths a checkpoint may name; anything else is refused rather than imported.
TRUSTED_CLASS_PREFIXES = ("nlptag.", "data_modules.", "torch.optim.")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint read with ``torch.load(weights_only=True)``: tensors and plain
    types only; a checkpoint that needs unpickling of anything else is refused."""
    path = Path(path)
    if not path.is_file():
        raise NlptagError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise NlptagError(
            f"checkpoint {path} cannot be loaded safely (only tensors and plain types are "
            f"accepted): {first_line}"
        ) from None


def check_class_paths(config: Any, where: str) -> None:
    """Refuse any ``class_path`` outside :data:`TRUSTED_CLASS_PREFIXES`, at any depth."""
    if isinstance(config, dict):
        for key, value in config.items():
            if key in ("class_path", "_class_path") and not str(value).startswith(
                TRUSTED_CLASS_PREFIXES
            ):
                raise NlptagError(f"{where}: refusing untrusted class path {value!r}")
            check_class_paths(value, where)
    elif isinstance(config, list):
        for value in config:
            check_class_paths(value, where)


def build_module(
    hparams: dict[str, Any], state_dict: dict[str, torch.Tensor], where: str
) -> LightningModule:
    """The task module named by ``hparams["_class_path"]``, built from ``hparams`` (class paths
    checked first) with ``state_dict`` loaded, in eval mode."""
    hparams = dict(hparams)
    hparams.pop("_instantiator", None)
    class_path = hparams.get("_class_path")
    if class_path is None:
        raise NlptagError(f"{where}: no model class recorded; was it trained with `nlptag fit`?")
    check_class_paths(hparams, where)
    module_name, _ = class_path.rsplit(".", 1)
    importlib.import_module(module_name)
    try:
        module = instantiate_module(LightningModule, hparams)
    except Exception as error:  # jsonargparse reports bad hyperparameters in many ways
        raise NlptagError(f"{where}: cannot build {class_path} ({error})") from None
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0]
        raise NlptagError(f"{where}: the weights do not fit {class_path}: {first_line}") from None
    return module.eval()


def module_from_checkpoint(
    checkpoint: dict[str, Any], where: str = "checkpoint"
) -> LightningModule:
    """Rebuild the task module from the checkpoint's hyperparameters and load its weights."""
    return build_module(checkpoint.get("hyper_parameters") or {}, checkpoint["state_dict"], where)
