"""Bundles: a trained model as a directory of plain files that loads without unpickling.

A bundle holds

- ``config.json``: the bundle format version, the task, the task module's hyperparameters
  (``_class_path`` and the network's class paths; training-only entries such as the optimizer are
  left out), the data module's hyperparameters, the quantization, and the SHA-256 sum of every
  other file;
- ``model.safetensors``: the weights (float, also in a quantized bundle: see :func:`quantize_int8`);
- ``vocabularies.json``: the data module's vocabularies (word, character, tag or label lists);
- ``<name>.json``: each tokenizer of the data module, in the ``tokenizers`` library's JSON format
  (e.g. ``source_tokenizer.json``);
- ``model.onnx`` (optional): the network up to its scores, for onnxruntime.

A checkpoint converts to the same :class:`Bundle` in memory (:func:`bundle_from_checkpoint`), so
everything that takes a bundle also takes a ``.ckpt`` file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pytorch_lightning import LightningModule
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

import nlptag
from nlptag.errors import NlptagError
from nlptag.hashing import sha256_of
from nlptag.inference import build_module, check_class_paths, load_checkpoint

FORMAT = "nlptag-bundle"
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
VOCABULARIES = "vocabularies.json"
ONNX = "model.onnx"
TRAINING_ONLY = ("optimizer", "lr_scheduler", "lr_scheduler_interval", "_instantiator")
"""Task hyperparameters that only matter for training; not written to bundles."""

Quantization = Literal["int8"]


@dataclass
class Bundle:
    """A trained model and everything needed to run it, as plain data.

    Attributes:
        model: the task module's hyperparameters, with ``_class_path``.
        data: the data module's hyperparameters, with ``_class_path`` (encoding options such as
            ``lowercase`` come from here).
        weights: the float state dict of the task module.
        vocabularies: lists of strings by name (``words``, ``chars``, ``tags``, ``labels``...).
        tokenizers: ``tokenizers`` JSON strings by name (``source_tokenizer``...).
        data_state: any other plain values of the data module's state.
        quantization: ``"int8"`` when the model should run dynamically quantized.
        task: the task name recorded in ``config.json`` (``None`` for a checkpoint).
        onnx: the bundle's ONNX file, if it has one.
        source: the directory or checkpoint it was read from, for messages.
    """

    model: dict[str, Any]
    data: dict[str, Any]
    weights: dict[str, torch.Tensor]
    vocabularies: dict[str, list[str]] = field(default_factory=dict)
    tokenizers: dict[str, str] = field(default_factory=dict)
    data_state: dict[str, Any] = field(default_factory=dict)
    quantization: Quantization | None = None
    task: str | None = None
    onnx: Path | None = None
    source: str = "<memory>"

    @property
    def class_path(self) -> str:
        return str(self.model.get("_class_path"))

    def build_module(self) -> LightningModule:
        """The task module with the weights loaded, in eval mode on the CPU, quantized if the
        bundle says so. Only class paths under ``TRUSTED_CLASS_PREFIXES`` are imported."""
        module = build_module(self.model, self.weights, self.source)
        if self.quantization == "int8":
            module = quantize_int8(module)
        return module


def quantize_int8(module: nn.Module) -> nn.Module:
    """Dynamic int8 quantization of the LSTM, GRU and linear layers (weights int8, activations
    quantized on the fly), for CPU inference. Deterministic: the same float weights always give
    the same int8 weights, which is why bundles store the float weights and quantize at load
    (safetensors cannot hold the packed int8 parameters)."""
    return torch.ao.quantization.quantize_dynamic(
        module, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8
    )


def _split_state(state: dict[str, Any]) -> tuple[dict, dict, dict]:
    """A data module's state as (vocabularies, tokenizers, other plain values)."""
    vocabularies, tokenizers, other = {}, {}, {}
    for key, value in state.items():
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            vocabularies[key] = list(value)
        elif isinstance(value, str):
            tokenizers[key] = value
        else:
            other[key] = value
    return vocabularies, tokenizers, other


def bundle_from_checkpoint(path: str | Path) -> Bundle:
    """The bundle of a Lightning checkpoint written by ``nlptag fit``, read with
    ``torch.load(weights_only=True)`` (tensors and plain types only)."""
    checkpoint = load_checkpoint(path)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise NlptagError(f"{path} is not a Lightning checkpoint")
    model = {
        key: value
        for key, value in (checkpoint.get("hyper_parameters") or {}).items()
        if key not in TRAINING_ONLY
    }
    data = dict(checkpoint.get("datamodule_hyper_parameters") or {})
    data.pop("_instantiator", None)
    class_name = str(data.get("_class_path", "")).rsplit(".", 1)[-1]
    if class_name not in checkpoint:
        raise NlptagError(f"{path} holds no data module state (vocabularies)")
    vocabularies, tokenizers, other = _split_state(checkpoint[class_name])
    weights = {key: value.detach() for key, value in checkpoint["state_dict"].items()}
    return Bundle(model, data, weights, vocabularies, tokenizers, other, source=str(path))


def write_bundle(bundle: Bundle, out_dir: str | Path, task: str, onnx_model: Path | None = None):
    """Write ``bundle`` as the directory ``out_dir`` (created; existing bundle files are
    replaced). ``onnx_model`` is an ONNX file to copy in as ``model.onnx``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in [ONNX, *(f"{key}.json" for key in bundle.tokenizers)]:
        (out / name).unlink(missing_ok=True)
    # clones: tied weights (one tensor under two names) are saved twice, as safetensors requires
    save_file(
        {key: value.detach().clone().contiguous() for key, value in bundle.weights.items()},
        str(out / WEIGHTS),
        metadata={"format": "pt"},
    )
    (out / VOCABULARIES).write_text(json.dumps(bundle.vocabularies, ensure_ascii=False) + "\n")
    files = [WEIGHTS, VOCABULARIES]
    for key, text in bundle.tokenizers.items():
        try:
            json.loads(text)
        except json.JSONDecodeError:
            raise NlptagError(
                f"data module state {key!r} is a string but not tokenizer JSON"
            ) from None
        (out / f"{key}.json").write_text(text, encoding="utf-8")
        files.append(f"{key}.json")
    if onnx_model is not None:
        (out / ONNX).write_bytes(Path(onnx_model).read_bytes())
        files.append(ONNX)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nlptag_version": nlptag.__version__,
        "task": task,
        "model": bundle.model,
        "data": bundle.data,
        "data_state": bundle.data_state,
        "tokenizers": {key: f"{key}.json" for key in bundle.tokenizers},
        "quantization": bundle.quantization,
        "onnx": ONNX if onnx_model is not None else None,
        "files": {name: sha256_of(out / name) for name in files},
    }
    (out / CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise NlptagError(f"{path}: corrupt JSON ({error})") from None


def read_bundle(directory: str | Path) -> Bundle:
    """The bundle in ``directory``; a missing, changed or corrupt file is an error naming it.
    Only JSON and safetensors are read: nothing is unpickled."""
    directory = Path(directory)
    config_path = directory / CONFIG
    if not config_path.is_file():
        raise NlptagError(f"{config_path} is missing: {directory} is not an nlptag bundle")
    config = _read_json(config_path)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise NlptagError(f"{config_path}: not an nlptag bundle config")
    if config.get("format_version") != FORMAT_VERSION:
        raise NlptagError(
            f"{config_path}: bundle format version {config.get('format_version')}, this nlptag "
            f"reads version {FORMAT_VERSION}"
        )
    for name, digest in config.get("files", {}).items():
        path = directory / name
        if not path.is_file():
            raise NlptagError(f"{path} is missing from the bundle")
        if sha256_of(path) != digest:
            raise NlptagError(f"{path} is corrupt: its SHA-256 sum differs from {CONFIG}'s")
    for key in ("model", "data"):
        check_class_paths(config.get(key), str(config_path))
    try:
        weights = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError) as error:
        raise NlptagError(f"{directory / WEIGHTS}: corrupt safetensors file ({error})") from None
    tokenizers = {
        key: (directory / name).read_text(encoding="utf-8")
        for key, name in config.get("tokenizers", {}).items()
    }
    return Bundle(
        model=config["model"],
        data=config["data"],
        weights=weights,
        vocabularies=_read_json(directory / VOCABULARIES),
        tokenizers=tokenizers,
        data_state=config.get("data_state", {}),
        quantization=config.get("quantization"),
        task=config.get("task"),
        onnx=directory / config["onnx"] if config.get("onnx") else None,
        source=str(directory),
    )


def open_bundle(path: str | Path) -> Bundle:
    """A bundle directory, or a checkpoint file converted in memory."""
    path = Path(path)
    if path.is_dir():
        return read_bundle(path)
    if path.is_file():
        return bundle_from_checkpoint(path)
    raise NlptagError(f"{path} does not exist (expected a bundle directory or a .ckpt file)")
