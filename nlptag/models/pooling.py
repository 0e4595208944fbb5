"""Pooling: one vector per sequence from the encoder's padded outputs, for classification.

Every pooling takes features (B, T, F) and a left-aligned mask (B, T) bool (each sequence has at
least one position) and returns (B, P) with P = ``output_size``; padding positions are never
read. Shape letters as in :mod:`nlptag.models`.
"""

from __future__ import annotations

import torch
from torch import nn


class FinalStatePooling(nn.Module):
    """The recurrent encoder's final states; output_size P = F.

    For a bidirectional encoder, the forward half of the features at the last real position and
    the backward half at position 0 (the backward RNN ends there); for a unidirectional one, the
    features at the last real position.

    Args:
        input_size: encoder output size F (given by the network); even when bidirectional.
        bidirectional: whether the encoder is bidirectional; must match the encoder's (the
            classifier checks).
    """

    def __init__(self, input_size: int, bidirectional: bool = True) -> None:
        super().__init__()
        if bidirectional and input_size % 2:
            raise ValueError(f"a bidirectional encoder has an even output size, not {input_size}")
        self.bidirectional = bidirectional
        self.output_size = input_size

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The final states of each sequence.

        Args:
            features: encoder outputs (B, T, F).
            mask: (B, T) bool, left-aligned, True at real positions.

        Returns:
            Pooled vectors (B, F).
        """
        last = (mask.sum(dim=1) - 1).clamp(min=0)  # (B,)
        rows = torch.arange(features.size(0), device=features.device)
        final = features[rows, last]  # (B, F)
        if not self.bidirectional:
            return final
        half = features.size(-1) // 2
        return torch.cat([final[:, :half], features[:, 0, half:]], dim=-1)


class MaxPooling(nn.Module):
    """Element-wise maximum over the real positions; output_size P = F.

    Args:
        input_size: encoder output size F (given by the network).
    """

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.output_size = input_size

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The maximum of each feature over the real positions.

        Args:
            features: encoder outputs (B, T, F).
            mask: (B, T) bool, True at real positions.

        Returns:
            Pooled vectors (B, F).
        """
        return features.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)


class MeanPooling(nn.Module):
    """Mean over the real positions; output_size P = F.

    Args:
        input_size: encoder output size F (given by the network).
    """

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.output_size = input_size

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The mean of each feature over the real positions.

        Args:
            features: encoder outputs (B, T, F).
            mask: (B, T) bool, True at real positions.

        Returns:
            Pooled vectors (B, F).
        """
        weights = mask.unsqueeze(-1).to(features.dtype)  # (B, T, 1)
        return (features * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class AttentionPooling(nn.Module):
    """Additive self-attention pooling (Yang et al. 2016); output_size P = F.

    A weighted mean of the positions, with weights ``softmax_t(v . tanh(W h_t + b))`` over the
    real positions.

    Args:
        input_size: encoder output size F (given by the network).
        attention_size: size A of the tanh layer ``W h_t + b``.
    """

    def __init__(self, input_size: int, attention_size: int = 128) -> None:
        super().__init__()
        self.projection = nn.Linear(input_size, attention_size)
        self.context = nn.Linear(attention_size, 1, bias=False)
        self.output_size = input_size

    def weights(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attention weights of the positions.

        Args:
            features: encoder outputs (B, T, F).
            mask: (B, T) bool, True at real positions.

        Returns:
            Weights (B, T); zero at padding, each row sums to 1.
        """
        scores = self.context(torch.tanh(self.projection(features))).squeeze(-1)  # (B, T)
        return scores.masked_fill(~mask, float("-inf")).softmax(dim=1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The attention-weighted mean of the positions.

        Args:
            features: encoder outputs (B, T, F).
            mask: (B, T) bool, True at real positions.

        Returns:
            Pooled vectors (B, F).
        """
        return torch.einsum("bt,bth->bh", self.weights(features, mask), features)
