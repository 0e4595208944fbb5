"""A bundle as the server sees it: its name, task, labels and hash, how its inputs are checked,
and how a batch of them is run through the public predictor API (``nlptag.load``)."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlptag.serving.schemas import Parameters

TASKS = ("tagging", "ner", "classification", "language_model", "translation")
"""The tasks the server knows how to check and run."""

TASK_PARAMETERS = {
    "tagging": set(),
    "ner": set(),
    "classification": set(),
    "language_model": {"length", "temperature", "top_k", "seed"},
    "translation": {"beam", "attention"},
}
"""The parameters each task accepts."""


class ApiError(Exception):
    """An error for the client: an HTTP status, a short type and a message (never a trace).

    Args:
        status: the HTTP status code.
        type_: a short machine-readable kind, e.g. ``too_many_inputs``.
        message: what went wrong, for people.
    """

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message


@dataclass(frozen=True)
class Limits:
    """What one request may ask for.

    Args:
        max_body_bytes: the largest request body (413 beyond).
        max_inputs: the most inputs (sentences, texts, primes) in one request (413 beyond).
        max_tokens: the most tokens in one sentence or text, counted at whitespace for strings
            (413 beyond).
        max_length: the most characters a language model may generate per prime (422 beyond).
        max_beam: the largest translation beam (422 beyond).
    """

    max_body_bytes: int = 1_000_000
    max_inputs: int = 64
    max_tokens: int = 256
    max_length: int = 1000
    max_beam: int = 16


def predictor_labels(predictor: Any) -> list[str] | None:
    """The tags or labels of a predictor's model (for NER in the data's scheme, as the outputs
    are), ``None`` for tasks without them."""
    return predictor.labels


def bundle_hash(path: Path) -> str:
    """sha256 of a bundle's ``config.json`` (which lists the sha256 of every other file), or of
    the file itself for a checkpoint."""
    source = path / "config.json" if path.is_dir() else path
    return hashlib.sha256(source.read_bytes()).hexdigest()


@dataclass
class ServedModel:
    """A loaded bundle and what ``GET /v1/models`` says about it.

    Attributes:
        name: the name in the URL.
        path: the bundle directory or checkpoint.
        predictor: what ``nlptag.load`` returned.
        labels: see :func:`predictor_labels`.
        bundle_hash: see :func:`bundle_hash`.
        quantization: ``"int8"`` or ``None``.
    """

    name: str
    path: Path
    predictor: Any
    labels: list[str] | None
    bundle_hash: str
    quantization: str | None

    @property
    def task(self) -> str:
        return self.predictor.task

    @classmethod
    def load(cls, name: str, path: Path) -> ServedModel:
        import nlptag

        predictor = nlptag.load(path)
        if predictor.task not in TASKS:
            raise ValueError(f"{path}: the server cannot serve the {predictor.task} task")
        return cls(
            name=name,
            path=path,
            predictor=predictor,
            labels=predictor_labels(predictor),
            bundle_hash=bundle_hash(path),
            quantization=predictor.bundle.quantization,
        )


def check_inputs(task: str, inputs: list[Any], parameters: Parameters, limits: Limits) -> None:
    """Raises :class:`ApiError` unless every input and parameter suits the task and the limits,
    so that a request that would fail is answered before it can join a batch."""
    if len(inputs) > limits.max_inputs:
        raise ApiError(
            413, "too_many_inputs", f"{len(inputs)} inputs; at most {limits.max_inputs} a request"
        )
    unknown = sorted(parameters.model_fields_set - TASK_PARAMETERS[task])
    if unknown:
        raise ApiError(422, "invalid_parameter", f"{task} does not take {', '.join(unknown)}")
    for n, item in enumerate(inputs):
        if task == "language_model" and not isinstance(item, str):
            raise ApiError(422, "invalid_input", f"inputs[{n}]: a prime is a string")
        tokens = item.split() if isinstance(item, str) else item
        if task == "language_model":
            if not item:
                raise ApiError(422, "invalid_input", f"inputs[{n}]: an empty prime")
            continue
        if not tokens or any(not token or token.isspace() for token in tokens):
            raise ApiError(422, "invalid_input", f"inputs[{n}]: an empty sentence or token")
        if len(tokens) > limits.max_tokens:
            raise ApiError(
                413,
                "too_many_tokens",
                f"inputs[{n}]: {len(tokens)} tokens; at most {limits.max_tokens} a sentence",
            )
    if parameters.length is not None and parameters.length > limits.max_length:
        raise ApiError(
            422, "invalid_parameter", f"length {parameters.length} > {limits.max_length}"
        )
    if parameters.beam is not None and parameters.beam > limits.max_beam:
        raise ApiError(422, "invalid_parameter", f"beam {parameters.beam} > {limits.max_beam}")


def batch_key(task: str, parameters: Parameters) -> Hashable | None:
    """Requests with equal keys may share a forward pass. A seeded sample never shares: its
    result must be the one ``predict`` gives for its own primes alone."""
    if task == "language_model" and parameters.seed is not None:
        return None
    return tuple(sorted(parameters.model_dump().items()))


def run_predictor(predictor: Any, inputs: list[Any], parameters: Parameters, batch_size: int):
    """The outputs of ``inputs`` (one per input) with the predictor's public API, as JSON-ready
    values: tensors (attention weights) become nested lists."""
    task = predictor.task
    if task == "language_model":
        options = {
            name: getattr(parameters, name)
            for name in ("length", "temperature", "top_k", "seed")
            if getattr(parameters, name) is not None
        }
        return predictor.predict(inputs, batch_size=batch_size, **options)
    if task == "translation":
        if parameters.attention:
            outputs = []
            for sentence in inputs:
                result = dict(predictor.attention(sentence, beam_size=parameters.beam))
                result["weights"] = result["weights"].tolist()
                outputs.append(result)
            return outputs
        return predictor.predict(inputs, batch_size=batch_size, beam_size=parameters.beam)
    return predictor.predict(inputs, batch_size=batch_size)
