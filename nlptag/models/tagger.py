"""The tagging network (POS, NER): word representation -> recurrent encoder -> tagging head.

Shape letters as in :mod:`nlptag.models`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder, rnn_input_bounds
from nlptag.models.heads import SoftmaxHead, TaggingHead, TagPrediction

EmbedderFactory = Callable[[int, int], WordEmbedder]
"""(num_words, num_chars) -> word representation module."""
EncoderFactory = Callable[[int], RecurrentEncoder]
"""(input_size) -> encoder."""
HeadFactory = Callable[[int, list[str]], TaggingHead]
"""(input_size, tag_names) -> tagging head."""


class TaggerNetwork(nn.Module):
    """Tags every word of a sentence; the head (softmax or CRF) decides loss and decoding.

    Args:
        num_words: word vocabulary size, ``<pad>`` and ``<unk>`` included (linked from the data
            module; the default 2 is only a placeholder).
        num_chars: character vocabulary size, ``<pad>`` and ``<unk>`` included (linked from the
            data module; the default 2 is only a placeholder).
        tag_names: the tags, in id order, C of them (linked from the data module); None (the
            default) is the placeholder ``["O"]``.
        embedder: builds the word representation from (num_words, num_chars); default a
            :class:`~nlptag.models.embeddings.WordEmbedder` with its own defaults.
        encoder: builds the recurrent encoder from the embedder's output size E; default a
            :class:`~nlptag.models.encoders.RecurrentEncoder` with its own defaults.
        head: builds the output head from (encoder output size F, tag_names):
            :class:`~nlptag.models.heads.SoftmaxHead` (the default) or
            :class:`~nlptag.models.crf.CRFHead`.
    """

    def __init__(
        self,
        num_words: int = 2,
        num_chars: int = 2,
        tag_names: list[str] | None = None,
        embedder: EmbedderFactory = WordEmbedder,
        encoder: EncoderFactory = RecurrentEncoder,
        head: HeadFactory = SoftmaxHead,
    ) -> None:
        super().__init__()
        self.tag_names = list(tag_names or ["O"])
        self.embedder = embedder(num_words, num_chars)
        self.encoder = encoder(self.embedder.output_size)
        self.head = head(self.encoder.output_size, self.tag_names)

    def forward(
        self,
        words: torch.Tensor,
        chars: torch.Tensor,
        lengths: torch.Tensor,
        char_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Encoder features, which the head turns into scores, a loss or tags.

        Args:
            words: word ids (B, T) long, padded with 0.
            chars: character ids of every word (B, T, L) long, padded with 0.
            lengths: words per sentence (B,) long, each >= 1.
            char_features: the words' character features (B, T, F') when already computed
                (see :meth:`~nlptag.models.embeddings.WordEmbedder.forward`); None (the
                default) computes them from ``chars``.

        Returns:
            Features (B, T, F).
        """
        return self.encoder(self.embedder(words, chars, char_features), lengths)

    def rnn_input_bounds(self) -> dict[str, float]:
        """The LSTM and GRU layers that int8 inference runs with fixed ranges, and their bounds.

        See :func:`~nlptag.models.encoders.rnn_input_bounds`.

        Returns:
            Submodule name -> bound.
        """
        return rnn_input_bounds(self.embedder, self.encoder)

    def scores(
        self,
        words: torch.Tensor,
        chars: torch.Tensor,
        lengths: torch.Tensor,
        char_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Tag scores: the head's logits or CRF emissions (the part exported to ONNX).

        Args:
            words: word ids (B, T) long, padded with 0.
            chars: character ids of every word (B, T, L) long, padded with 0.
            lengths: words per sentence (B,) long, each >= 1.
            char_features: as in :meth:`forward`.

        Returns:
            Tag scores (B, T, C).
        """
        return self.head(self(words, chars, lengths, char_features))

    def decode(
        self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor
    ) -> TagPrediction:
        """Best tags and their confidences.

        Args:
            words: word ids (B, T) long, padded with 0.
            chars: character ids of every word (B, T, L) long, padded with 0.
            lengths: words per sentence (B,) long, each >= 1.
            mask: (B, T) bool, True at real words.

        Returns:
            Tags (B, T) and confidences (B, T), both 0 outside the mask.
        """
        return self.head.decode(self(words, chars, lengths), mask)
