"""Predictors: run a bundle on raw inputs, in batches, without a Trainer or ``datasets``.

``nlptag.load(path)`` returns the predictor of the bundle's task; each has
``predict(inputs, batch_size=...)``. One small class per task, registered in :data:`PREDICTORS`:

- ``tagging`` (:class:`TagPredictor`): sentences -> ``{"tokens", "tags", "confidences"}``;
- ``ner`` (:class:`EntityPredictor`): the same plus ``"entities"`` with spans and confidences;
- ``classification`` (:class:`ClassifierPredictor`): texts -> ``{"label", "probability",
  "probabilities"}``;
- ``language_model`` (:class:`LanguageModelPredictor`): primes -> generated text;
- ``translation`` (:class:`TranslationPredictor`): sentences -> translations (and attention).

Predictors build the bundle's network (:mod:`nlptag.inference.build`) and run it with torch
alone: no Lightning, torchmetrics or ``datasets``. Taggers and classifiers also run their network
through onnxruntime (``backend="onnx"``) when the
bundle has ``model.onnx``; decoding (softmax, CRF Viterbi and marginals) always runs in torch.

Shapes: ``B`` batch, ``T`` time, ``L`` characters per word, ``C`` tags or labels.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import torch
from torch import nn

from nlptag.errors import NlptagError
from nlptag.inference.build import build
from nlptag.inference.bundle import Bundle, open_bundle
from nlptag.models.embeddings import CharBiLSTM
from nlptag.models.encoders import FUSED_RNNS, RecurrentEncoder, fastest_inference_run
from nlptag.models.search import Search
from nlptag.text.encoding import (
    collate_translation,
    decode_subwords,
    encode_sentence,
    encode_source,
    encode_text,
    pad_word_ids,
    pad_words,
)
from nlptag.text.schemes import PREFIXES, extract_chunks, tags_of_chunks
from nlptag.text.specials import UNK
from nlptag.text.tokenize import tokenize
from nlptag.text.vocabulary import Vocabulary

Backend = Literal["torch", "onnx"]
EncoderRun = Literal["fastest", "packed", "padded"]
"""How :func:`load` sets its encoders' ``inference_run``; ``fastest`` times both once."""
Sentence = str | Sequence[str]
"""A sentence or text: a string (split into tokens as the task does) or a list of tokens."""


class SpellingTable(NamedTuple):
    """Character features (B' + 1, F') of B' distinct spellings (row 0: zeros, for padding)
    and each spelling's row, by token."""

    features: torch.Tensor
    rows: dict[str, int]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices in batches of ``batch_size``, longest first, so batches carry little padding."""
    if batch_size < 1:
        raise NlptagError("batch_size must be at least 1")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


class Predictor:
    """A network and its vocabularies, ready to predict. Subclasses set ``task`` (the name in
    ``config.json``)."""

    task: ClassVar[str]

    def __init__(self, bundle: Bundle, network: nn.Module, session: Any = None) -> None:
        self.bundle = bundle
        self.network = network
        self.session = session  # an onnxruntime.InferenceSession, or None for torch

    @property
    def labels(self) -> list[str] | None:
        """The tags or labels the model predicts, in id order (``None`` for generation)."""
        return self.bundle.labels

    def predict(self, inputs: Sequence[Any], batch_size: int = 64) -> list:
        raise NotImplementedError


class ScoringPredictor(Predictor):
    """A predictor whose network maps (words, chars, lengths) to scores: the part that is
    exported to ONNX. ``scores`` is the one definition both backends use."""

    score_axes: ClassVar[dict[int, str]]
    """Dynamic axes of the scores, for the ONNX export."""

    def __init__(self, bundle: Bundle, network: nn.Module, session: Any = None) -> None:
        super().__init__(bundle, network, session)
        self.words = Vocabulary(bundle.vocabularies["words"])
        self.chars = Vocabulary(bundle.vocabularies["chars"])
        self.max_word_length = int(bundle.data.get("max_word_length", 30))

    def run(
        self,
        words: torch.Tensor,
        chars: torch.Tensor,
        lengths: torch.Tensor,
        char_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores from words (B, T), chars (B, T, L), lengths (B,): the network's ``scores``,
        in torch or in its ONNX graph. ``char_features`` (B, T, F'), already computed, stand in
        for ``chars`` (torch only)."""
        if self.session is None:
            return self.network.scores(words, chars, lengths, char_features)
        feed = {"words": words.numpy(), "chars": chars.numpy(), "lengths": lengths.numpy()}
        return torch.from_numpy(self.session.run(None, feed)[0])

    def spelling_table(self, spellings: dict[str, list[int]]) -> SpellingTable | None:
        """The character features of every distinct spelling of one ``predict`` call, computed
        once each (:meth:`~nlptag.models.embeddings.WordEmbedder.spelling_features`), where the
        network runs in torch and has character features; None otherwise (ONNX, or none).

        Args:
            spellings: token -> its character ids, as :func:`~nlptag.text.encoding.spelling_ids`
                fills its cache.
        """
        embedder = self.network.embedder
        if self.session is not None or embedder.char_features is None:
            return None
        rows = {token: row for row, token in enumerate(spellings, start=1)}
        return SpellingTable(embedder.spelling_features(list(spellings.values())), rows)

    def batch_scores(
        self, examples: list[dict], tokens: list[list[str]], table: SpellingTable | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scores of one batch of encoded examples (``word_ids``, ``char_ids``), with the
        character features from ``table`` where there is one.

        Args:
            examples: encoded examples, B of them.
            tokens: each example's tokens, the keys of ``table.rows``.
            table: :meth:`spelling_table`'s, or None to compute the features from the chars.

        Returns:
            Scores (the network's ``scores``), mask (B, T) bool, lengths (B,) long.
        """
        if table is None:
            words, chars, mask, lengths = pad_words(examples)
            return self.run(words, chars, lengths), mask, lengths
        # no chars to pad: each word's features come from the table
        words, mask, lengths = pad_word_ids(examples)
        rows = torch.zeros(words.shape, dtype=torch.long)
        rows[mask] = torch.tensor([table.rows[token] for text in tokens for token in text])
        chars = words.new_zeros(*words.shape, 0)  # (B, T, 0): unused when features are given
        return self.run(words, chars, lengths, table.features[rows]), mask, lengths


class TagPredictor(ScoringPredictor):
    """Tags each token of each sentence (strings are split at whitespace)."""

    task = "tagging"
    score_axes = {0: "batch", 1: "time"}

    def __init__(self, bundle: Bundle, network: nn.Module, session: Any = None) -> None:
        super().__init__(bundle, network, session)
        self.tag_names = list(network.tag_names)
        self.lowercase = bool(bundle.data.get("lowercase", False))
        self.digits_to_zero = bool(bundle.data.get("digits_to_zero", False))

    def encode(
        self, tokens: list[str], spelling_cache: dict[str, list[int]] | None = None
    ) -> dict[str, list]:
        """One sentence's ids as the tagger was trained on them (:func:`encode_sentence` with
        the bundle's vocabularies and normalisation); ``spelling_cache`` as there."""
        return encode_sentence(
            tokens,
            self.words,
            self.chars,
            self.max_word_length,
            lowercase=self.lowercase,
            digits_to_zero=self.digits_to_zero,
            spelling_cache=spelling_cache,
        )

    def result(self, tokens: list[str], tags: list[int], confidences: list[float]) -> dict:
        return {
            "tokens": tokens,
            "tags": [self.tag_names[t] for t in tags],
            "confidences": confidences,
        }

    @torch.inference_mode()
    def predict(self, inputs: Sequence[Sentence], batch_size: int = 64) -> list[dict]:
        """Per sentence ``{"tokens", "tags", "confidences"}`` (the probability of each tag: the
        softmax probability, or the CRF marginal)."""
        sentences = [s.split() if isinstance(s, str) else list(s) for s in inputs]
        if any(not tokens for tokens in sentences):
            raise NlptagError("cannot tag an empty sentence")
        results: list[dict | None] = [None] * len(sentences)
        spellings: dict[str, list[int]] = {}
        encoded = [self.encode(tokens, spellings) for tokens in sentences]
        table = self.spelling_table(spellings)
        for batch_indices in length_sorted_batches([len(s) for s in sentences], batch_size):
            scores, mask, lengths = self.batch_scores(
                [encoded[i] for i in batch_indices], [sentences[i] for i in batch_indices], table
            )
            prediction = self.network.head.decode_scores(scores, mask)
            for i, tags, confidences, length in zip(
                batch_indices,
                prediction.tags.tolist(),
                prediction.confidences.tolist(),
                lengths.tolist(),
            ):
                results[i] = self.result(sentences[i], tags[:length], confidences[:length])
        return results


class EntityPredictor(TagPredictor):
    """Tags in the data's scheme and the entities they make."""

    task = "ner"

    @property
    def labels(self) -> list[str]:
        """The tags of the data's scheme (the model may work in another, e.g. IOBES)."""
        types = sorted({tag.split("-", 1)[1] for tag in self.tag_names if "-" in tag})
        prefixes = sorted(PREFIXES[self.bundle.options["data_scheme"]])
        return ["O", *(f"{prefix}-{type_}" for type_ in types for prefix in prefixes)]

    def result(self, tokens: list[str], tags: list[int], confidences: list[float]) -> dict:
        """``{"tokens", "tags", "confidences", "entities"}``; each entity has ``type``, token
        span ``start``/``end`` (end exclusive), ``text`` and ``confidence`` (the mean of its
        tokens' confidences, as ``EntityTagger.predict_step`` computes it). The chunks are read
        once, from the model's tags: the data scheme's tags are rebuilt from them, which is what
        :func:`~nlptag.text.schemes.convert_tags` does."""
        chunks = extract_chunks([self.tag_names[t] for t in tags])
        data_tags = tags_of_chunks(chunks, len(tags), self.bundle.options["data_scheme"])
        entities = [
            {
                "type": type_,
                "start": start,
                "end": end,
                "text": " ".join(tokens[start:end]),
                "confidence": sum(confidences[start:end]) / (end - start),
            }
            for type_, start, end in chunks
        ]
        return {
            "tokens": tokens,
            "tags": data_tags,
            "confidences": confidences,
            "entities": entities,
        }


class ClassifierPredictor(ScoringPredictor):
    """Labels texts; strings are tokenised as the data module did in training."""

    task = "classification"
    score_axes = {0: "batch"}

    def __init__(self, bundle: Bundle, network: nn.Module, session: Any = None) -> None:
        super().__init__(bundle, network, session)
        data = bundle.data
        self.tokenizer = data.get("tokenizer", "whitespace")
        self.token_pattern = data.get("token_pattern", r"\w+|[^\w\s]")
        self.lowercase = bool(data.get("lowercase", False))
        self.max_length = data.get("max_length")

    def tokens(self, text: Sentence) -> list[str]:
        if isinstance(text, str):
            return tokenize(text, self.tokenizer, self.token_pattern, self.lowercase)
        return [token.lower() for token in text] if self.lowercase else list(text)

    @torch.inference_mode()
    def predict(self, inputs: Sequence[Sentence], batch_size: int = 64) -> list[dict]:
        """Per text ``{"label", "probability", "probabilities"}`` (``probabilities`` maps every
        label to its probability)."""
        texts = [self.tokens(text) for text in inputs]
        if any(not tokens for tokens in texts):
            raise NlptagError("cannot classify an empty text")
        labels = self.labels
        results: list[dict | None] = [None] * len(texts)
        spellings: dict[str, list[int]] = {}
        texts = [text[: self.max_length] for text in texts]
        encoded = [
            encode_text(
                text, self.words, self.chars, None, self.max_word_length, spelling_cache=spellings
            )
            for text in texts
        ]
        table = self.spelling_table(spellings)
        for batch_indices in length_sorted_batches([len(t) for t in texts], batch_size):
            scores, _, _ = self.batch_scores(
                [encoded[i] for i in batch_indices], [texts[i] for i in batch_indices], table
            )
            probabilities = scores.softmax(dim=-1)
            for i, row in zip(batch_indices, probabilities.tolist()):
                best = max(range(len(row)), key=row.__getitem__)
                results[i] = {
                    "label": labels[best],
                    "probability": row[best],
                    "probabilities": dict(zip(labels, row)),
                }
        return results


class LanguageModelPredictor(Predictor):
    """Samples text after each prime from a character language model."""

    task = "language_model"

    def __init__(self, bundle: Bundle, network: nn.Module, session: Any = None) -> None:
        super().__init__(bundle, network, session)
        self.vocabulary = Vocabulary(bundle.vocabularies["chars"])

    def predict(
        self,
        inputs: Sequence[str],
        batch_size: int = 64,
        length: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
    ) -> list[str]:
        """The ``length`` characters sampled after each prime (the prime not repeated). Primes of
        the same length are sampled together, ``batch_size`` at a time; ``seed`` makes the result
        reproducible. Characters outside the vocabulary are read as ``<unk>``, never written."""
        if any(not prime for prime in inputs):
            raise NlptagError("every prime needs at least one character")
        generator = torch.Generator()
        if seed is not None:
            generator.manual_seed(seed)
        else:
            generator.seed()
        vocabulary = self.vocabulary
        results: list[str | None] = [None] * len(inputs)
        for batch_indices in length_sorted_batches([len(p) for p in inputs], batch_size):
            groups: dict[int, list[int]] = {}
            for i in batch_indices:
                groups.setdefault(len(inputs[i]), []).append(i)
            for group in groups.values():
                primes = torch.tensor([vocabulary.ids(inputs[i]) for i in group])  # (B, P)
                produced = self.network.generate(
                    primes, length, temperature, top_k, generator, banned=[vocabulary.id(UNK)]
                )
                for i, ids in zip(group, produced.tolist()):
                    results[i] = "".join(vocabulary.lookup(ids))
        return results


class TranslationPredictor(Predictor):
    """Translates sentences with the bundle's subword tokenizers and the module's search."""

    task = "translation"

    def __init__(self, bundle: Bundle, network: nn.Module, session: Any = None) -> None:
        if session is not None:
            raise NlptagError("translation models run in torch only (no ONNX export)")
        super().__init__(bundle, network, session)
        self.search: Search = build(bundle.options["search"], bundle.source)
        from tokenizers import Tokenizer

        self.source_tokenizer = Tokenizer.from_str(bundle.tokenizers["source_tokenizer"])
        self.target_tokenizer = Tokenizer.from_str(bundle.tokenizers["target_tokenizer"])

    def _encode(self, inputs: Sequence[Sentence]) -> list[list[int]]:
        texts = [text if isinstance(text, str) else " ".join(text) for text in inputs]
        return [encode_source(self.source_tokenizer, text) for text in texts]

    @staticmethod
    def _batch(encoded: list[list[int]], indices: list[int]):
        examples = [{"source": encoded[i], "target": [], "index": i} for i in indices]
        return collate_translation(examples)

    @torch.inference_mode()
    def predict(
        self, inputs: Sequence[Sentence], batch_size: int = 64, beam_size: int | None = None
    ) -> list[str]:
        """The detokenised translation of each sentence (a raw string, or tokens joined by
        spaces), by beam search with ``beam_size`` beams (default: the model's; 1 = greedy)."""
        encoded = self._encode(inputs)
        results: list[str | None] = [None] * len(encoded)
        for indices in length_sorted_batches([len(ids) for ids in encoded], batch_size):
            batch = self._batch(encoded, indices)
            best = self.search.best(self.network, batch.source, batch.source_lengths, beam_size)
            for i, ids in zip(indices, best):
                results[i] = decode_subwords(self.target_tokenizer, ids)
        return results

    @torch.inference_mode()
    def attention(self, sentence: Sentence, beam_size: int | None = None) -> dict:
        """``{"translation", "source_tokens", "output_tokens", "weights"}`` for one sentence:
        the subwords on both sides (``</s>`` included) and the attention weights (N, S) of the
        best hypothesis, one row per output subword."""
        encoded = self._encode([sentence])
        batch = self._batch(encoded, [0])
        ((ids, weights),) = self.search.best_with_attention(
            self.network, batch.source, batch.source_lengths, beam_size
        )
        return {
            "translation": decode_subwords(self.target_tokenizer, ids),
            "source_tokens": [self.source_tokenizer.id_to_token(i) for i in encoded[0]],
            "output_tokens": [self.target_tokenizer.id_to_token(i) for i in ids],
            "weights": weights,
        }


PREDICTORS: dict[str, type[Predictor]] = {
    predictor.task: predictor
    for predictor in (
        TagPredictor,
        EntityPredictor,
        ClassifierPredictor,
        LanguageModelPredictor,
        TranslationPredictor,
    )
}
"""Task name -> predictor class; a new task adds its class here."""


def predictor_class(bundle: Bundle) -> type[Predictor]:
    """The predictor for the bundle's task."""
    if bundle.task not in PREDICTORS:
        known = ", ".join(PREDICTORS)
        raise NlptagError(f"{bundle.source}: no predictor for task {bundle.task!r} ({known})")
    return PREDICTORS[bundle.task]


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for ``path``; ``threads`` intra-op threads (default: torch's)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load(
    path: str | Path,
    backend: Backend = "torch",
    threads: int | None = None,
    encoder_run: EncoderRun = "padded",
) -> Predictor:
    """The predictor of a bundle directory (or of a ``.ckpt`` checkpoint, converted in memory).

    Args:
        path: the bundle directory written by ``nlptag export``, or a checkpoint.
        backend: ``torch``, or ``onnx`` to run the network with onnxruntime (bundles exported
            with ``--onnx``; taggers and classifiers). An int8 bundle runs quantized in torch.
        threads: onnxruntime intra-op threads (default: ``torch.get_num_threads()``).
        encoder_run: how the recurrent encoders and character BiLSTMs (float32, or int8 with
            fixed ranges) run in torch (see :class:`~nlptag.models.encoders.RecurrentEncoder`
            and :class:`~nlptag.models.embeddings.CharBiLSTM`): ``padded`` (the default: the
            fused dense kernels, on length buckets where a batch has much padding), ``packed``,
            or ``fastest``, the faster of the two on this CPU at the current torch thread
            count, timed once here on a random batch (two loads may then choose
            differently). All give the same outputs up to float rounding.
    """
    if encoder_run not in ("fastest", "packed", "padded"):
        raise NlptagError(
            f"unknown encoder_run {encoder_run!r}; expected fastest, packed or padded"
        )
    bundle = open_bundle(path)
    predictor = predictor_class(bundle)
    session = None
    if backend == "onnx":
        if bundle.onnx is None:
            raise NlptagError(f"{bundle.source} has no model.onnx; export it with --onnx")
        session = onnx_session(bundle.onnx, threads)
    elif backend != "torch":
        raise NlptagError(f"unknown backend {backend!r}; expected torch or onnx")
    network = bundle.build_network()
    if session is None:
        for module in network.modules():
            if isinstance(module, RecurrentEncoder):
                rnn = module.rnn
            elif isinstance(module, CharBiLSTM):
                rnn = module.lstm
            else:
                continue
            if type(rnn) in FUSED_RNNS or hasattr(rnn, "run_padded"):  # else: always packed
                if encoder_run == "fastest":
                    module.inference_run = fastest_inference_run(module, *module.timing_sample())
                else:
                    module.inference_run = encoder_run
    return predictor(bundle, network, session)
