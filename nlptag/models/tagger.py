"""The tagging network (POS, NER): word representation -> recurrent encoder -> tagging head.

Shapes: ``B`` batch, ``T`` time, ``L`` characters per word, ``H`` encoder output size, ``C`` tags.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
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
        num_words: word vocabulary size (linked from the data module).
        num_chars: character vocabulary size (linked from the data module).
        tag_names: the tags, in id order (linked from the data module).
        embedder: builds the word representation from (num_words, num_chars).
        encoder: builds the recurrent encoder from the embedder's output size.
        head: builds the output head from (encoder output size, tag_names).
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
        self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Encoder features (B, T, H) from words (B, T), chars (B, T, L) and lengths (B,)."""
        return self.encoder(self.embedder(words, chars), lengths)

    def scores(
        self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Tag scores (B, T, C): the head's logits or CRF emissions (the part exported to ONNX)."""
        return self.head(self(words, chars, lengths))

    def decode(
        self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor
    ) -> TagPrediction:
        """Best tags and their confidences; mask (B, T) bool marks real words."""
        return self.head.decode(self(words, chars, lengths), mask)
