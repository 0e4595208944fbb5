"""Output heads for sequence tagging: turn encoder features into tag scores, a loss and a decoding.

Shapes: ``B`` batch, ``T`` time, ``H`` feature size, ``C`` number of tags.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class TagPrediction(NamedTuple):
    """Decoded tags and a confidence for each of them.

    tags: (B, T) long, tag ids; positions outside the mask hold 0.
    confidences: (B, T) float in [0, 1], the model's probability of the chosen tag at each position.
    """

    tags: torch.Tensor
    confidences: torch.Tensor


class TaggingHead(nn.Module):
    """Interface every tagging head implements; a head owns its projection to tag scores.

    Decoding is split in two so that the scores can be computed elsewhere (an ONNX graph) and
    decoded here: ``decode(features) == decode_scores(head(features))``.
    """

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Tag scores (B, T, C) from features (B, T, H)."""
        raise NotImplementedError

    def loss(self, features: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Loss to minimise (scalar). features (B, T, H), tags (B, T) long, mask (B, T) bool."""
        raise NotImplementedError

    def decode_scores(self, scores: torch.Tensor, mask: torch.Tensor) -> TagPrediction:
        """Best tags from tag scores (B, T, C); mask (B, T) bool."""
        raise NotImplementedError

    def decode(self, features: torch.Tensor, mask: torch.Tensor) -> TagPrediction:
        """Best tags. features (B, T, H), mask (B, T) bool."""
        return self.decode_scores(self(features), mask)


class SoftmaxHead(TaggingHead):
    """Independent per-token softmax over the tags; loss is the mean cross-entropy per token."""

    def __init__(self, input_size: int, tag_names: list[str]) -> None:
        super().__init__()
        self.projection = nn.Linear(input_size, len(tag_names))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, C)."""
        return self.projection(features)

    def loss(self, features: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = self(features)  # (B, T, C)
        return nn.functional.cross_entropy(logits[mask], tags[mask])

    def decode_scores(self, scores: torch.Tensor, mask: torch.Tensor) -> TagPrediction:
        probabilities = scores.softmax(dim=-1)
        confidences, tags = probabilities.max(dim=-1)
        return TagPrediction(tags.masked_fill(~mask, 0), confidences.masked_fill(~mask, 0.0))
