"""Checkpoints read without unpickling, and turned into bundles: the task module's
hyperparameters become the spec of its network (one recipe per task), its weights the network's.

Nothing here imports Lightning or the task modules: a task is known by its class path.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nlptag.errors import NlptagError
from nlptag.inference.allowlist import TRAINING_CLASSES, check_class_paths

TRAINING_ONLY = ("optimizer", "lr_scheduler", "lr_scheduler_interval", "_instantiator")
"""Task hyperparameters that only matter for training; not written to bundles."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint read with ``torch.load(weights_only=True)``: tensors and plain
    types only; a checkpoint that needs unpickling of anything else, or that is not a
    checkpoint at all (truncated, garbage), is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise NlptagError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise NlptagError(f"checkpoint {path} is a directory, not a checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch reports damaged files in many ways
        raise NlptagError(_load_failure(path, error)) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise NlptagError(f"{path} is not a Lightning checkpoint written by `nlptag fit`")
    check_class_paths(checkpoint.get("hyper_parameters"), str(path), TRAINING_CLASSES)
    check_class_paths(checkpoint.get("datamodule_hyper_parameters"), str(path), TRAINING_CLASSES)
    return checkpoint


def _load_failure(path: Path, error: Exception) -> str:
    """One line on why ``torch.load(weights_only=True)`` refused ``path``: an object that
    needs unpickling (refused on purpose), or a file that is no checkpoint at all."""
    text = str(error)
    unsafe = re.search(r"Unsupported global: GLOBAL ([\w.:]+)", text)
    if unsafe:
        return (
            f"checkpoint {path} cannot be loaded safely: it holds a pickled {unsafe.group(1)} "
            "object, and only tensors and plain types are accepted"
        )
    if isinstance(error, PermissionError | IsADirectoryError):
        return f"checkpoint {path} cannot be read ({error.strerror})"
    with open(path, "rb") as handle:
        truncated_zip = handle.read(4) == b"PK\x03\x04" and not zipfile.is_zipfile(path)
    if truncated_zip:
        reason = "a truncated zip archive"
    elif isinstance(error, OSError) and error.strerror:
        reason = error.strerror
    else:
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        reason = detail.group(1) if detail else (lines[0] if lines else type(error).__name__)
        if isinstance(error, KeyError | IndexError | ValueError | TypeError):
            reason = "unreadable content"
    return (
        f"checkpoint {path} is not a PyTorch checkpoint, or it is truncated or corrupt "
        f"({reason}); give the .ckpt that `nlptag fit` wrote"
    )


def _spec(class_path: str, **init_args: Any) -> dict[str, Any]:
    return {"class_path": class_path, "init_args": init_args}


def _factory(value: Any, default: str) -> dict[str, Any]:
    """A recorded factory argument as a spec (``None``: the default class, no arguments)."""
    if value is None:
        return {"class_path": default}
    if isinstance(value, dict) and "class_path" in value:
        return value
    raise NlptagError(f"expected a class_path entry, found {value!r}")


def _tagger(h: dict) -> dict:
    return _spec(
        "nlptag.models.tagger.TaggerNetwork",
        num_words=h["num_words"],
        num_chars=h["num_chars"],
        tag_names=h["tag_names"],
        embedder=_factory(h.get("embedder"), "nlptag.models.embeddings.WordEmbedder"),
        encoder=_factory(h.get("encoder"), "nlptag.models.encoders.RecurrentEncoder"),
        head=_factory(h.get("head"), "nlptag.models.heads.SoftmaxHead"),
    )


def _classifier(h: dict) -> dict:
    return _spec(
        "nlptag.models.classifier.ClassifierNetwork",
        num_words=h["num_words"],
        num_chars=h["num_chars"],
        num_labels=len(h["label_names"]),
        embedder=_factory(h.get("embedder"), "nlptag.models.embeddings.WordEmbedder"),
        encoder=_factory(h.get("encoder"), "nlptag.models.encoders.RecurrentEncoder"),
        pooling=_factory(h.get("pooling"), "nlptag.models.pooling.MaxPooling"),
        dropout=h.get("dropout", 0.5),
    )


def _language_model(h: dict) -> dict:
    network = dict(_factory(h.get("network"), "nlptag.models.language_model.CharRNN"))
    network["init_args"] = {**(network.get("init_args") or {}), "num_chars": h["num_chars"]}
    return network


_ATTENTION_OF_KIND = {
    "additive": "nlptag.models.attention.AdditiveAttention",
    "dot": "nlptag.models.attention.DotAttention",
    "general": "nlptag.models.attention.GeneralAttention",
}


def _translator(h: dict) -> dict:
    sizes = {
        "source_vocab_size": h["source_vocab_size"],
        "target_vocab_size": h["target_vocab_size"],
    }
    if "network" in h:
        network = dict(_factory(h["network"], "nlptag.models.seq2seq.Seq2Seq"))
        network["init_args"] = {**(network.get("init_args") or {}), **sizes}
        return network
    # format 1: the network's arguments were the task's own, attention a kind string
    decoder = dict(_factory(h.get("decoder"), "nlptag.models.seq2seq.RecurrentDecoder"))
    decoder_args = dict(decoder.get("init_args") or {})
    decoder_args["attention"] = {
        "class_path": _ATTENTION_OF_KIND[decoder_args.get("attention", "additive")]
    }
    decoder["init_args"] = decoder_args
    return _spec(
        "nlptag.models.seq2seq.Seq2Seq",
        **sizes,
        embedding_dim=h.get("embedding_dim", 256),
        encoder=_factory(h.get("encoder"), "nlptag.models.encoders.RecurrentEncoder"),
        decoder=decoder,
        share_embeddings=h.get("share_embeddings", False),
        embedding_dropout=h.get("embedding_dropout", 0.3),
    )


def _translator_search(h: dict) -> dict:
    if "network" in h:
        return _factory(h.get("search"), "nlptag.models.search.Search")
    names = ("beam_size", "length_penalty", "max_length_ratio", "max_length_offset")
    return _spec("nlptag.models.search.Search", **{n: h[n] for n in names if n in h})


def _captioner(h: dict) -> dict:
    network = dict(_factory(h.get("network"), "nlptag.models.captioning.CaptionNetwork"))
    sizes = {"vocab_size": len(h["vocabulary"]), "feature_size": h["feature_size"]}
    network["init_args"] = {**(network.get("init_args") or {}), **sizes}
    return network


@dataclass(frozen=True)
class Recipe:
    """How a task module's hyperparameters map to a bundle: the task name, the network spec,
    the labels the predictor reports, and the task's other prediction settings."""

    task: str
    network: Callable[[dict], dict]
    labels: Callable[[dict], list[str] | None]
    options: Callable[[dict], dict] = lambda h: {}


RECIPES: dict[str, Recipe] = {
    "nlptag.tasks.tagging.SequenceTagger": Recipe("tagging", _tagger, lambda h: h["tag_names"]),
    "nlptag.tasks.ner.EntityTagger": Recipe(
        "ner",
        _tagger,
        lambda h: h["tag_names"],
        lambda h: {
            "tag_scheme": h.get("tag_scheme", "iob2"),
            "data_scheme": h.get("data_scheme", "iob2"),
        },
    ),
    "nlptag.tasks.classification.SequenceClassifier": Recipe(
        "classification", _classifier, lambda h: h["label_names"]
    ),
    "nlptag.tasks.language_model.CharLanguageModel": Recipe(
        "language_model", _language_model, lambda h: None
    ),
    "nlptag.tasks.translation.Translator": Recipe(
        "translation", _translator, lambda h: None, lambda h: {"search": _translator_search(h)}
    ),
    "nlptag.tasks.captioning.ImageCaptioner": Recipe(
        "captioning",
        _captioner,
        lambda h: None,
        lambda h: {
            "search": _factory(h.get("search"), "nlptag.models.caption_search.CaptionSearch")
        },
    ),
}
"""One recipe per task module class path."""

_WEIGHT_PREFIXES = ("network.", "model.")
"""Where task modules keep their network: ``network.`` (``model.`` in format-1 translators;
format-1 taggers and classifiers kept the pieces at the top level, as the networks do)."""


def network_weights(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The network's state dict from a task module's."""
    for prefix in _WEIGHT_PREFIXES:
        if state_dict and all(key.startswith(prefix) for key in state_dict):
            return {key[len(prefix) :]: value.detach() for key, value in state_dict.items()}
    return {key: value.detach() for key, value in state_dict.items()}


def recipe_of(hparams: dict, where: str) -> Recipe:
    class_path = hparams.get("_class_path")
    if class_path is None:
        raise NlptagError(f"{where}: no model class recorded; was it trained with `nlptag fit`?")
    if class_path not in RECIPES:
        raise NlptagError(f"{where}: {class_path} is not an nlptag task module")
    return RECIPES[class_path]


def split_state(state: dict[str, Any]) -> tuple[dict, dict, dict]:
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
