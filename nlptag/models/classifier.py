"""The text classification network (sentiment).

Word representation -> recurrent encoder -> pooling over time -> dropout -> linear layer over the
labels. Shape letters as in :mod:`nlptag.models`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder, rnn_input_bounds
from nlptag.models.pooling import MaxPooling

EmbedderFactory = Callable[[int, int], WordEmbedder]
"""(num_words, num_chars) -> word representation module."""
EncoderFactory = Callable[[int], RecurrentEncoder]
"""(input_size) -> encoder."""
PoolingFactory = Callable[[int], nn.Module]
"""(input_size) -> pooling module: features (B, T, F), mask (B, T) -> (B, P), with
``output_size`` = P."""


class ClassifierNetwork(nn.Module):
    """Gives each text one vector of label scores.

    Args:
        num_words: word vocabulary size, ``<pad>`` and ``<unk>`` included (linked from the data
            module; the default 2 is only a placeholder).
        num_chars: character vocabulary size, ``<pad>`` and ``<unk>`` included (linked from the
            data module; the default 2 is only a placeholder).
        num_labels: number of labels C (linked from the data module's labels; the default 2 is
            only a placeholder).
        embedder: builds the word representation from (num_words, num_chars); default a
            :class:`~nlptag.models.embeddings.WordEmbedder` with its own defaults.
        encoder: builds the recurrent encoder from the embedder's output size E; default a
            :class:`~nlptag.models.encoders.RecurrentEncoder` with its own defaults.
        pooling: builds the pooling over time from the encoder's output size F:
            :class:`~nlptag.models.pooling.FinalStatePooling`, ``MaxPooling`` (the default),
            ``MeanPooling`` or ``AttentionPooling``. A pooling with a ``bidirectional`` flag
            must agree with the encoder's.
        dropout: dropout probability on the pooled vector, before the output layer (0 disables
            it).
    """

    def __init__(
        self,
        num_words: int = 2,
        num_chars: int = 2,
        num_labels: int = 2,
        embedder: EmbedderFactory = WordEmbedder,
        encoder: EncoderFactory = RecurrentEncoder,
        pooling: PoolingFactory = MaxPooling,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.embedder = embedder(num_words, num_chars)
        self.encoder = encoder(self.embedder.output_size)
        self.pooling = pooling(self.encoder.output_size)
        encoder_bidirectional = self.encoder.rnn.bidirectional
        if getattr(self.pooling, "bidirectional", encoder_bidirectional) != encoder_bidirectional:
            raise ValueError(
                f"pooling: bidirectional={self.pooling.bidirectional} does not match the "
                f"encoder's bidirectional={encoder_bidirectional}"
            )
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(self.pooling.output_size, num_labels)

    def forward(
        self,
        words: torch.Tensor,
        chars: torch.Tensor,
        lengths: torch.Tensor,
        char_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Label scores of each text.

        Args:
            words: word ids (B, T) long, padded with 0.
            chars: character ids of every word (B, T, L) long, padded with 0.
            lengths: words per text (B,) long, each >= 1.
            char_features: the words' character features (B, T, F') when already computed
                (see :meth:`~nlptag.models.embeddings.WordEmbedder.forward`); None (the
                default) computes them from ``chars``.

        Returns:
            Label scores (B, C) (logits).
        """
        mask = torch.arange(words.size(1), device=words.device).unsqueeze(0) < lengths.unsqueeze(1)
        features = self.encoder(self.embedder(words, chars, char_features), lengths)
        return self.output(self.dropout(self.pooling(features, mask)))

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
        """Label scores: the part exported to ONNX (the same as ``forward``).

        Args:
            words: word ids (B, T) long, padded with 0.
            chars: character ids of every word (B, T, L) long, padded with 0.
            lengths: words per text (B,) long, each >= 1.
            char_features: as in :meth:`forward`.

        Returns:
            Label scores (B, C) (logits).
        """
        return self(words, chars, lengths, char_features)
