"""Request and response models of the JSON API (they are the OpenAPI schemas FastAPI shows)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Sentence = str | list[str]
"""A sentence or text as a string, or as a list of tokens."""


class Parameters(BaseModel):
    """Options of a prediction; each applies to some tasks only (422 for the others)."""

    model_config = ConfigDict(extra="forbid")

    beam: int | None = Field(
        None, ge=1, description="translation: beam size (default: the model's; 1 = greedy)"
    )
    attention: bool = Field(
        False,
        description="translation: answer {translation, source_tokens, output_tokens, weights}"
        " per sentence instead of the translation string",
    )
    length: int | None = Field(
        None, ge=1, description="language_model: characters to sample per prime (default 200)"
    )
    temperature: float | None = Field(
        None, gt=0, description="language_model: sampling temperature (default 1.0)"
    )
    top_k: int | None = Field(
        None, ge=1, description="language_model: sample among the k likeliest characters"
    )
    seed: int | None = Field(
        None,
        description="language_model: makes the sample reproducible (such requests are"
        " never batched with others)",
    )


class PredictRequest(BaseModel):
    """``{"inputs": [...], "parameters": {...}}``: the task's inputs, one output each."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[Sentence] = Field(
        ...,
        min_length=1,
        description="tagging, ner, classification, translation: strings or token lists;"
        " language_model: primes (strings)",
        examples=[["The quick brown fox jumps over the lazy dog ."]],
    )
    parameters: Parameters = Field(default_factory=Parameters)


class TaggedSentence(BaseModel):
    """A tagging output."""

    tokens: list[str]
    tags: list[str]
    confidences: list[float]


class Entity(BaseModel):
    type: str
    start: int = Field(description="first token")
    end: int = Field(description="one past the last token")
    text: str
    confidence: float


class EntitySentence(TaggedSentence):
    """An NER output: tags in the data's scheme and the entities they make."""

    entities: list[Entity]


class Classification(BaseModel):
    label: str
    probability: float
    probabilities: dict[str, float]


class Attention(BaseModel):
    """A translation with its attention (``parameters.attention``)."""

    translation: str
    source_tokens: list[str]
    output_tokens: list[str]
    weights: list[list[float]] = Field(description="(N, S): one row per output subword")


Output = EntitySentence | TaggedSentence | Classification | Attention | str


class PredictResponse(BaseModel):
    """One output per input, in order: exactly what the Python predictor returns."""

    outputs: list[Output]


class ModelInfo(BaseModel):
    name: str
    task: str
    labels: list[str] | None = Field(description="the tags or labels, if the task has them")
    bundle_hash: str = Field(description="sha256 of the bundle's config.json (or checkpoint)")
    quantization: str | None


class ModelList(BaseModel):
    models: list[ModelInfo]


class ErrorBody(BaseModel):
    type: str
    message: str
    details: list[dict] | None = None


class ErrorResponse(BaseModel):
    """Every error: ``{"error": {"type", "message", "details"?}}``."""

    error: ErrorBody


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    loaded: list[str]
    pending: list[str]
    failed: dict[str, str]
