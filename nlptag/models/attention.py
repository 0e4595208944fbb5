"""Attention of a decoder state over encoder outputs: one small module per scoring function.

Every attention has the same interface: ``project_keys`` once per source, then ``forward`` per
decoder step, so the decoder and the search never ask which kind they hold.

Shapes: ``B`` batch, ``S`` source length, ``Q`` query size, ``K`` key size, ``A`` projected
key size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Attention(nn.Module):
    """Base: softmax over the unmasked source positions of ``scores``; subclasses score."""

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """Key projections computed once per source: keys (B, S, K) -> (B, S, A)."""
        return keys

    def scores(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores (B, S) of query (B, Q) against projected keys (B, S, A)."""
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,
        projected_keys: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Query (B, Q), projected_keys (B, S, A), values (B, S, K), mask (B, S) bool ->
        context (B, K), weights (B, S) summing to 1 over the unmasked positions."""
        scores = self.scores(query, projected_keys).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)
        return context, weights


class AdditiveAttention(Attention):
    """Bahdanau et al. (2015): ``v^T tanh(W q + U k)``.

    Args:
        query_size: decoder state size Q (given by the decoder).
        key_size: encoder output size K (given by the decoder).
        hidden_size: size of the tanh layer (default: the query size).
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int | None = None) -> None:
        super().__init__()
        hidden_size = hidden_size or query_size
        self.key_layer = nn.Linear(key_size, hidden_size, bias=False)
        self.query_layer = nn.Linear(query_size, hidden_size, bias=False)
        self.energy_layer = nn.Linear(hidden_size, 1, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """U k: (B, S, K) -> (B, S, A)."""
        return self.key_layer(keys)

    def scores(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """v^T tanh(W q + U k): (B, S)."""
        energy = torch.tanh(self.query_layer(query).unsqueeze(1) + projected_keys)
        return self.energy_layer(energy).squeeze(2)


class DotAttention(Attention):
    """Luong et al. (2015) ``dot``: ``q^T k``; needs query size == key size.

    Args:
        query_size: decoder state size Q (given by the decoder).
        key_size: encoder output size K (given by the decoder); must equal ``query_size``.
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        if query_size != key_size:
            raise ValueError(
                f"dot attention needs equal query and key sizes, got {query_size} and "
                f"{key_size}; use GeneralAttention or AdditiveAttention"
            )

    def scores(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """q^T k: (B, S)."""
        return torch.bmm(projected_keys, query.unsqueeze(2)).squeeze(2)


class GeneralAttention(DotAttention):
    """Luong et al. (2015) ``general``: ``q^T W k``.

    Args:
        query_size: decoder state size Q (given by the decoder).
        key_size: encoder output size K (given by the decoder).
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        Attention.__init__(self)
        self.key_layer = nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """W k: (B, S, K) -> (B, S, Q)."""
        return self.key_layer(keys)


AttentionFactory = Callable[[int, int], Attention]
"""(query_size, key_size) -> attention."""
