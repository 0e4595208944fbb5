"""Bundles: a trained network as a directory of plain files that loads without unpickling.

A bundle (format version 2) holds

- ``config.json``: the format and its version, the task, the network's spec (class paths and
  arguments, see :mod:`nlptag.inference.build`), the labels, the task's prediction settings
  (``options``: tag schemes, search), the task module's and the data module's hyperparameters
  (``model``, ``data``: encoding options, and what ``nlptag evaluate`` rebuilds), the
  quantization, and the SHA-256 sum of every other file;
- ``model.safetensors``: the network's weights (float, also in a quantized bundle: see
  :func:`quantize_int8`);
- ``vocabularies.json``: the data module's vocabularies (word, character, tag or label lists);
- ``<name>.json``: each tokenizer of the data module, in the ``tokenizers`` library's JSON format
  (e.g. ``source_tokenizer.json``);
- ``model.onnx`` (optional): the network up to its scores, for onnxruntime.

Format-1 bundles (before networks were modules of their own) are converted on reading. A
checkpoint converts to the same :class:`Bundle` in memory (:func:`bundle_from_checkpoint`), so
everything that takes a bundle also takes a ``.ckpt`` file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

import nlptag
from nlptag.errors import NlptagError
from nlptag.files import write_text_atomically
from nlptag.hashing import sha256_of
from nlptag.inference.allowlist import TRAINING_CLASSES, check_class_paths
from nlptag.inference.build import build
from nlptag.inference.checkpoints import (
    TRAINING_ONLY,
    load_checkpoint,
    network_weights,
    recipe_of,
    split_state,
)
from nlptag.inference.int8 import quantize_int8

FORMAT = "nlptag-bundle"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
VOCABULARIES = "vocabularies.json"
ONNX = "model.onnx"

Quantization = Literal["int8"]


@dataclass
class Bundle:
    """A trained network and everything needed to run it, as plain data.

    Attributes:
        task: ``tagging``, ``ner``, ``classification``, ``language_model`` or ``translation``.
        network: the network's spec (``class_path``, ``init_args``).
        weights: the float state dict of the network.
        labels: the tags or labels in id order (``None`` for generation tasks).
        options: the task's prediction settings (``tag_scheme``/``data_scheme``, ``search``).
        model: the task module's hyperparameters, with ``_class_path`` (training-only entries
            such as the optimizer left out).
        data: the data module's hyperparameters, with ``_class_path`` (encoding options such as
            ``lowercase`` come from here).
        vocabularies: lists of strings by name (``words``, ``chars``, ``tags``, ``labels``...).
        tokenizers: ``tokenizers`` JSON strings by name (``source_tokenizer``...).
        data_state: any other plain values of the data module's state.
        quantization: ``"int8"`` when the network's recurrent layers run in int8
            (:func:`~nlptag.inference.int8.quantize_int8`).
        onnx: the bundle's ONNX file, if it has one.
        source: the directory or checkpoint it was read from, for messages.
    """

    task: str
    network: dict[str, Any]
    weights: dict[str, torch.Tensor]
    labels: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    vocabularies: dict[str, list[str]] = field(default_factory=dict)
    tokenizers: dict[str, str] = field(default_factory=dict)
    data_state: dict[str, Any] = field(default_factory=dict)
    quantization: Quantization | None = None
    onnx: Path | None = None
    source: str = "<memory>"

    def build_network(self) -> nn.Module:
        """The network with the weights loaded, in eval mode on the CPU, quantized if the bundle
        says so. Only class paths of the allow-list are imported."""
        network = build(self.network, self.source)
        try:
            network.load_state_dict(self.weights)
        except RuntimeError as error:
            first_line = str(error).strip().splitlines()[0]
            raise NlptagError(
                f"{self.source}: the weights do not fit {self.network['class_path']}: {first_line}"
            ) from None
        network.eval()
        if self.quantization == "int8":
            network = quantize_int8(network, self.source)
        return network


def _from_task(
    model: dict, weights: dict, data: dict, state: dict, where: str, **extra: Any
) -> Bundle:
    """A bundle from a task module's hyperparameters and state dict (a checkpoint, or a format-1
    bundle) and the data module's hyperparameters and state."""
    model = {key: value for key, value in model.items() if key not in TRAINING_ONLY}
    recipe = recipe_of(model, where)
    try:
        network = recipe.network(model)
        labels, options = recipe.labels(model), recipe.options(model)
    except (KeyError, NlptagError) as error:
        raise NlptagError(
            f"{where}: the model's hyperparameters do not describe a {recipe.task} network "
            f"({error}); re-export the bundle from its checkpoint with `nlptag export`"
        ) from None
    vocabularies, tokenizers, other = split_state(state)
    return Bundle(
        task=recipe.task,
        network=network,
        weights=network_weights(weights),
        labels=labels,
        options=options,
        model=model,
        data=data,
        vocabularies=vocabularies,
        tokenizers=tokenizers,
        data_state=other,
        source=where,
        **extra,
    )


def bundle_from_checkpoint(path: str | Path) -> Bundle:
    """The bundle of a Lightning checkpoint written by ``nlptag fit``, read with
    ``torch.load(weights_only=True)`` (tensors and plain types only)."""
    checkpoint = load_checkpoint(path)
    data = dict(checkpoint.get("datamodule_hyper_parameters") or {})
    data.pop("_instantiator", None)
    class_name = str(data.get("_class_path", "")).rsplit(".", 1)[-1]
    if class_name not in checkpoint:
        raise NlptagError(f"{path} holds no data module state (vocabularies)")
    return _from_task(
        checkpoint.get("hyper_parameters") or {},
        checkpoint["state_dict"],
        data,
        checkpoint[class_name],
        str(path),
    )


def write_bundle(
    bundle: Bundle, out_dir: str | Path, onnx_model: Path | None = None, overwrite: bool = False
) -> None:
    """Write ``bundle`` as the directory ``out_dir``: built in a temporary directory beside it,
    then renamed into place, so a failure leaves nothing half-written. A non-empty ``out_dir``
    is refused unless ``overwrite`` (then it is replaced as a whole); a file there is refused.
    ``onnx_model`` is an ONNX file to copy in as ``model.onnx``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NlptagError(f"{out} is a file; the bundle must go to a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise NlptagError(f"{out} is not empty; choose a new directory or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        _write_files(bundle, staging, onnx_model)
        if out.exists():
            retired = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
            os.replace(out, retired / "bundle")
            os.replace(staging, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    except OSError as error:
        raise NlptagError(f"cannot write the bundle {out}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_files(bundle: Bundle, out: Path, onnx_model: Path | None) -> None:
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
        shutil.copyfile(onnx_model, out / ONNX)
        files.append(ONNX)
    for name in files:
        with open(out / name, "rb") as written:
            os.fsync(written.fileno())
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nlptag_version": nlptag.__version__,
        "task": bundle.task,
        "network": bundle.network,
        "labels": bundle.labels,
        "options": bundle.options,
        "model": bundle.model,
        "data": bundle.data,
        "data_state": bundle.data_state,
        "tokenizers": {key: f"{key}.json" for key in bundle.tokenizers},
        "quantization": bundle.quantization,
        "onnx": ONNX if onnx_model is not None else None,
        "files": {name: sha256_of(out / name) for name in files},
    }
    text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    write_text_atomically(out / CONFIG, text, what="bundle config")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise NlptagError(f"{path}:{error.lineno}: corrupt JSON ({error.msg})") from None
    except UnicodeDecodeError:
        raise NlptagError(f"{path}: corrupt JSON (not UTF-8 text)") from None
    except OSError as error:
        raise NlptagError(f"{path}: cannot be read ({error.strerror})") from None


def read_bundle(directory: str | Path) -> Bundle:
    """The bundle in ``directory``; a missing, changed or corrupt file is an error naming it.
    Only JSON and safetensors are read: nothing is unpickled, and every class path is checked
    against the allow-list before anything is imported."""
    directory = Path(directory)
    config_path = directory / CONFIG
    if not config_path.is_file():
        raise NlptagError(f"{config_path} is missing: {directory} is not an nlptag bundle")
    config = _read_json(config_path)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise NlptagError(f"{config_path}: not an nlptag bundle config")
    version = config.get("format_version")
    if version not in READABLE_VERSIONS:
        raise NlptagError(
            f"{config_path}: bundle format version {version}; this nlptag reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}: re-export the bundle from its checkpoint "
            "with `nlptag export`"
        )
    for name, digest in config.get("files", {}).items():
        path = directory / name
        if not path.is_file():
            raise NlptagError(f"{path} is missing from the bundle")
        if sha256_of(path) != digest:
            raise NlptagError(f"{path} is corrupt: its SHA-256 sum differs from {CONFIG}'s")
    check_class_paths(config.get("network"), str(config_path))
    check_class_paths(config.get("options"), str(config_path))
    for key in ("model", "data"):
        check_class_paths(config.get(key), str(config_path), TRAINING_CLASSES)
    try:
        weights = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError) as error:
        raise NlptagError(f"{directory / WEIGHTS}: corrupt safetensors file ({error})") from None
    tokenizers = {
        key: (directory / name).read_text(encoding="utf-8")
        for key, name in config.get("tokenizers", {}).items()
    }
    vocabularies = _read_json(directory / VOCABULARIES)
    extra = dict(
        quantization=config.get("quantization"),
        onnx=directory / config["onnx"] if config.get("onnx") else None,
    )
    if version == 1:  # the task module's hyperparameters and weights: convert
        state = {**vocabularies, **tokenizers, **config.get("data_state", {})}
        return _from_task(config["model"], weights, config["data"], state, str(directory), **extra)
    return Bundle(
        task=config["task"],
        network=config["network"],
        weights=weights,
        labels=config.get("labels"),
        options=config.get("options", {}),
        model=config.get("model", {}),
        data=config.get("data", {}),
        vocabularies=vocabularies,
        tokenizers=tokenizers,
        data_state=config.get("data_state", {}),
        source=str(directory),
        **extra,
    )


def open_bundle(path: str | Path) -> Bundle:
    """A bundle directory, or a checkpoint file converted in memory."""
    path = Path(path)
    if path.is_dir():
        return read_bundle(path)
    if path.is_file():
        return bundle_from_checkpoint(path)
    raise NlptagError(f"{path} does not exist (expected a bundle directory or a .ckpt file)")
