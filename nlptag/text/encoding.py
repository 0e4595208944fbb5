"""Texts to ids and padded batches: the pure pieces shared by the data modules (training) and the
predictors (inference). Nothing here imports ``datasets`` or Lightning.

Shapes: ``B`` batch, ``T`` longest sentence (text) in tokens, ``L`` longest word in characters.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, NamedTuple

import torch

from nlptag.errors import NlptagError
from nlptag.text.specials import BOS_ID, EOS_ID, PAD_ID
from nlptag.text.tokenize import normalize_word
from nlptag.text.vocabulary import Vocabulary

if TYPE_CHECKING:
    from tokenizers import Tokenizer as SubwordTokenizer


def spelling_ids(
    tokens: list[str],
    chars: Vocabulary,
    max_word_length: int,
    cache: dict[str, list[int]] | None = None,
) -> list[list[int]]:
    """The character ids of each token, cut to ``max_word_length`` (an empty token spells
    ``<unk>``). ``cache`` (token -> ids, filled as it goes) spells each distinct token once."""
    if cache is None:
        return [chars.ids(token[:max_word_length]) or [chars.unk_id] for token in tokens]
    spelled = []
    for token in tokens:
        ids = cache.get(token)
        if ids is None:
            ids = cache[token] = chars.ids(token[:max_word_length]) or [chars.unk_id]
        spelled.append(ids)
    return spelled


def encode_sentence(
    tokens: list[str],
    words: Vocabulary,
    chars: Vocabulary,
    max_word_length: int,
    tags: list[str] | None = None,
    tag_vocabulary: Vocabulary | None = None,
    lowercase: bool = False,
    digits_to_zero: bool = False,
    spelling_cache: dict[str, list[int]] | None = None,
) -> dict[str, list]:
    """Ids of one sentence: ``word_ids`` (T), ``char_ids`` (T lists), ``tag_ids`` (T; zeros
    without tags). A word's characters are cut to ``max_word_length``; ``spelling_cache`` is
    :func:`spelling_ids`'s."""
    tag_ids = [0] * len(tokens)
    if tags is not None:
        unknown = next((tag for tag in tags if tag not in tag_vocabulary), None)
        if unknown is not None:
            raise NlptagError(f"tag {unknown!r} does not occur in the training data")
        tag_ids = tag_vocabulary.ids(tags)
    return {
        "word_ids": words.ids(normalize_word(t, lowercase, digits_to_zero) for t in tokens),
        "char_ids": spelling_ids(tokens, chars, max_word_length, spelling_cache),
        "tag_ids": tag_ids,
    }


def encode_text(
    tokens: list[str],
    words: Vocabulary,
    chars: Vocabulary,
    max_length: int | None,
    max_word_length: int,
    index: int = 0,
    label_id: int = 0,
    spelling_cache: dict[str, list[int]] | None = None,
) -> dict:
    """Ids of one text to classify: ``word_ids`` (T), ``char_ids`` (T lists), ``label_id``,
    ``index``; the text is cut to ``max_length`` tokens and each word to ``max_word_length``;
    ``spelling_cache`` is :func:`spelling_ids`'s."""
    tokens = tokens[:max_length]
    return {
        "word_ids": words.ids(tokens),
        "char_ids": spelling_ids(tokens, chars, max_word_length, spelling_cache),
        "label_id": label_id,
        "index": index,
    }


class TaggingBatch(NamedTuple):
    """A padded batch of sentences; padding is 0 everywhere and ``mask`` marks real words.

    words (B, T), chars (B, T, L), tags (B, T) long; mask (B, T) bool; lengths (B,) long.
    """

    words: torch.Tensor
    chars: torch.Tensor
    tags: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor


def pad_word_ids(
    examples: list[dict],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """words (B, T), mask (B, T), lengths (B,) from examples' ``word_ids``, padded with 0: the
    flattened ids are made one tensor and scattered into place."""
    lengths = torch.tensor([len(example["word_ids"]) for example in examples])
    batch, time = len(examples), int(lengths.max())
    mask = torch.arange(time).unsqueeze(0) < lengths.unsqueeze(1)
    words = torch.zeros(batch, time, dtype=torch.long)
    words[mask] = torch.tensor(
        list(chain.from_iterable(example["word_ids"] for example in examples)), dtype=torch.long
    )
    return words, mask, lengths


def pad_words(
    examples: list[dict],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """words (B, T), chars (B, T, L), mask (B, T), lengths (B,) from examples' ``word_ids`` and
    ``char_ids``, padded with 0. The ids are flattened into one list each, made tensors once
    and scattered into place (no Python loop that pads each word)."""
    words, mask, lengths = pad_word_ids(examples)
    batch, time = words.shape
    spellings = [word for example in examples for word in example["char_ids"]]
    word_lengths = torch.tensor([len(word) for word in spellings], dtype=torch.long)
    longest_word = int(word_lengths.max()) if spellings else 0
    chars = torch.zeros(batch * time, longest_word, dtype=torch.long)
    if longest_word:
        slots = mask.reshape(-1).nonzero().squeeze(1)  # each word's row of the (B * T) grid
        starts = torch.cumsum(word_lengths, 0) - word_lengths
        positions = torch.arange(int(word_lengths.sum())) - starts.repeat_interleave(word_lengths)
        flat = torch.tensor(list(chain.from_iterable(spellings)), dtype=torch.long)
        chars[slots.repeat_interleave(word_lengths), positions] = flat
    return words, chars.view(batch, time, longest_word), mask, lengths


def collate_tagging(examples: list[dict[str, list]]) -> TaggingBatch:
    """Pad encoded examples (``word_ids``, ``char_ids``, ``tag_ids``) into a ``TaggingBatch``."""
    words, chars, mask, lengths = pad_words(examples)
    tags = [e["tag_ids"] + [0] * (words.size(1) - len(e["tag_ids"])) for e in examples]
    return TaggingBatch(words, chars, torch.tensor(tags), mask, lengths)


class ClassificationBatch(NamedTuple):
    """A padded batch of texts; padding is 0 and ``mask`` marks real tokens.

    words (B, T), chars (B, T, L) long; mask (B, T) bool; lengths (B,) long;
    labels (B,) long (zeros for unlabelled data); index (B,) long, each text's position in its
    split, so predictions made in length-sorted batches can be put back in file order.
    """

    words: torch.Tensor
    chars: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor


def collate_classification(examples: list[dict]) -> ClassificationBatch:
    """Pad encoded examples (``word_ids``, ``char_ids``, ``label_id``, ``index``) into a batch."""
    words, chars, mask, lengths = pad_words(examples)
    return ClassificationBatch(
        words=words,
        chars=chars,
        mask=mask,
        lengths=lengths,
        labels=torch.tensor([example["label_id"] for example in examples]),
        index=torch.tensor([example["index"] for example in examples]),
    )


class LMBatch(NamedTuple):
    """One chunk of every stream: ``inputs`` (B, T) character ids, ``targets`` (B, T) the next
    characters (``targets[:, t] == inputs[:, t + 1]`` inside the chunk)."""

    inputs: torch.Tensor
    targets: torch.Tensor


# --- translation ---------------------------------------------------------------------------------
class TranslationBatch(NamedTuple):
    """A padded batch of sentence pairs; padding is ``PAD_ID`` (0).

    source (B, S) long: subword ids + ``</s>``; source_lengths (B,) long;
    target (B, T) long: ``<s>`` + subword ids + ``</s>`` (B, 0 when predicting);
    target_lengths (B,) long, counting ``<s>`` and ``</s>`` (zeros when predicting);
    index (B,) long: each pair's line number in its split, counted from 0, so outputs made in
    length-sorted batches can be put back in file order;
    references: the raw target line of each pair, what BLEU scores the detokenised output
    against (empty strings when predicting).
    """

    source: torch.Tensor
    source_lengths: torch.Tensor
    target: torch.Tensor
    target_lengths: torch.Tensor
    index: torch.Tensor
    references: tuple[str, ...] = ()


def collate_translation(examples: list[dict]) -> TranslationBatch:
    """Pad encoded examples (``source``, ``target`` id lists, ``index``) into a batch."""
    source_lengths = [len(example["source"]) for example in examples]
    target_lengths = [len(example["target"]) for example in examples]
    source_time, target_time = max(source_lengths), max(target_lengths)
    # padded as nested lists: one tensor per batch is much faster than one per sentence
    source = [e["source"] + [PAD_ID] * (source_time - len(e["source"])) for e in examples]
    target = [e["target"] + [PAD_ID] * (target_time - len(e["target"])) for e in examples]
    return TranslationBatch(
        source=torch.tensor(source, dtype=torch.long),
        source_lengths=torch.tensor(source_lengths, dtype=torch.long),
        target=torch.tensor(target, dtype=torch.long).view(len(examples), target_time),  # (B, 0)
        target_lengths=torch.tensor(target_lengths, dtype=torch.long),
        index=torch.tensor([example["index"] for example in examples], dtype=torch.long),
        references=tuple(example.get("reference", "") for example in examples),
    )


def encode_source(tokenizer: SubwordTokenizer, text: str) -> list[int]:
    """Subword ids of a source sentence, ``</s>`` included."""
    return tokenizer.encode(text, add_special_tokens=False).ids + [EOS_ID]


def encode_target(tokenizer: SubwordTokenizer, text: str) -> list[int]:
    """Subword ids of a target sentence between ``<s>`` and ``</s>``."""
    return [BOS_ID, *tokenizer.encode(text, add_special_tokens=False).ids, EOS_ID]


def decode_subwords(tokenizer: SubwordTokenizer, ids) -> str:
    """Detokenised text of target ids: stops at the first ``</s>``, skips the other specials
    (``<unk>`` too)."""
    kept = []
    for token_id in map(int, ids):
        if token_id == EOS_ID:
            break
        kept.append(token_id)
    return tokenizer.decode(kept, skip_special_tokens=True)
