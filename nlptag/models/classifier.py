"""The text classification network (sentiment): word representation -> recurrent encoder ->
pooling over time -> dropout -> linear layer over the labels.

Shapes: ``B`` batch, ``T`` time, ``L`` characters per word, ``H`` encoder output size, ``P``
pooled size, ``C`` labels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.models.pooling import MaxPooling

EmbedderFactory = Callable[[int, int], WordEmbedder]
"""(num_words, num_chars) -> word representation module."""
EncoderFactory = Callable[[int], RecurrentEncoder]
"""(input_size) -> encoder."""
PoolingFactory = Callable[[int], nn.Module]
"""(input_size) -> pooling module: features (B, T, H), mask (B, T) -> (B, P), with
``output_size`` = P."""


class ClassifierNetwork(nn.Module):
    """Gives each text one vector of label scores.

    Args:
        num_words: word vocabulary size (linked from the data module).
        num_chars: character vocabulary size (linked from the data module).
        num_labels: number of labels C (from the data module's labels).
        embedder: builds the word representation from (num_words, num_chars).
        encoder: builds the recurrent encoder from the embedder's output size.
        pooling: builds the pooling over time (final states, max, mean or attention) from the
            encoder's output size.
        dropout: dropout on the pooled vector, before the output layer.
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
        self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Label scores (B, C) from words (B, T), chars (B, T, L) and lengths (B,)."""
        mask = torch.arange(words.size(1), device=words.device).unsqueeze(0) < lengths.unsqueeze(1)
        features = self.encoder(self.embedder(words, chars), lengths)
        return self.output(self.dropout(self.pooling(features, mask)))

    def scores(
        self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Label scores (B, C): the part exported to ONNX (the same as ``forward``)."""
        return self(words, chars, lengths)
