"""Output heads for sequence tagging: turn encoder features into tag scores, a loss and a decoding.

Shape letters as in :mod:`nlptag.models`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class TagPrediction(NamedTuple):
    """Decoded tags and a confidence for each of them.

    Args:
        tags: (B, T) long, tag ids; positions outside the mask hold 0.
        confidences: (B, T) float in [0, 1], the model's probability of the chosen tag at each
            position; 0 outside the mask.
    """

    tags: torch.Tensor
    confidences: torch.Tensor


class TaggingHead(nn.Module):
    """Interface every tagging head implements; a head owns its projection to tag scores.

    Decoding is split in two so that the scores can be computed elsewhere (an ONNX graph) and
    decoded here: ``decode(features) == decode_scores(head(features))``.
    """

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Tag scores.

        Args:
            features: encoder outputs (B, T, F).

        Returns:
            Tag scores (B, T, C).
        """
        raise NotImplementedError

    def loss(self, features: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Loss to minimise.

        Args:
            features: encoder outputs (B, T, F).
            tags: gold tag ids (B, T) long.
            mask: (B, T) bool, True at real words.

        Returns:
            The loss, a scalar.
        """
        raise NotImplementedError

    def decode_scores(self, scores: torch.Tensor, mask: torch.Tensor) -> TagPrediction:
        """Best tags from tag scores.

        Args:
            scores: tag scores (B, T, C), as returned by ``forward``.
            mask: (B, T) bool, True at real words.

        Returns:
            Tags (B, T) and their confidences (B, T).
        """
        raise NotImplementedError

    def decode(self, features: torch.Tensor, mask: torch.Tensor) -> TagPrediction:
        """Best tags.

        Args:
            features: encoder outputs (B, T, F).
            mask: (B, T) bool, True at real words.

        Returns:
            Tags (B, T) and their confidences (B, T).
        """
        return self.decode_scores(self(features), mask)


class SoftmaxHead(TaggingHead):
    """Independent per-token softmax over the tags; loss is the mean cross-entropy per token.

    Args:
        input_size: encoder output size F (given by the tagger network).
        tag_names: the tags, in id order (given by the tagger network); C = len(tag_names).
    """

    def __init__(self, input_size: int, tag_names: list[str]) -> None:
        super().__init__()
        self.projection = nn.Linear(input_size, len(tag_names))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Tag logits.

        Args:
            features: encoder outputs (B, T, F).

        Returns:
            Logits (B, T, C).
        """
        return self.projection(features)

    def loss(self, features: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the real words of the batch.

        Args:
            features: encoder outputs (B, T, F).
            tags: gold tag ids (B, T) long.
            mask: (B, T) bool, True at real words.

        Returns:
            The loss, a scalar.
        """
        logits = self(features)  # (B, T, C)
        return nn.functional.cross_entropy(logits[mask], tags[mask])

    def decode_scores(self, scores: torch.Tensor, mask: torch.Tensor) -> TagPrediction:
        """The most probable tag at each position and its softmax probability.

        Args:
            scores: logits (B, T, C), as returned by ``forward``.
            mask: (B, T) bool, True at real words.

        Returns:
            Tags (B, T) and confidences (B, T); both 0 outside the mask.
        """
        probabilities = scores.softmax(dim=-1)
        confidences, tags = probabilities.max(dim=-1)
        return TagPrediction(tags.masked_fill(~mask, 0), confidences.masked_fill(~mask, 0.0))
