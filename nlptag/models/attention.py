"""Attention of a decoder state over encoder outputs: one small module per scoring function.

Every attention has the same interface: ``project_keys`` once per source, then ``forward`` per
decoder step, so the decoder and the search never ask which kind they hold. The query is the
decoder's top state (B, H); keys and values are the encoder outputs (B, S, F). Shape letters as in
:mod:`nlptag.models`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Attention(nn.Module):
    """Base: softmax over the unmasked source positions of ``scores``; subclasses score."""

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """Key projections, computed once per source (the base keeps the keys as they are).

        Args:
            keys: encoder outputs (B, S, F).

        Returns:
            Projected keys (B, S, A).
        """
        return keys

    def scores(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """Unnormalised attention scores of one query against every source position.

        Args:
            query: decoder state (B, H).
            projected_keys: output of :meth:`project_keys` (B, S, A).

        Returns:
            Scores (B, S).
        """
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,
        projected_keys: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from the query over the unmasked source positions.

        Args:
            query: decoder state (B, H).
            projected_keys: output of :meth:`project_keys` (B, S, A).
            values: encoder outputs (B, S, F).
            mask: (B, S) bool, True at real source tokens.

        Returns:
            The context vector (B, F) and the attention weights (B, S), which sum to 1 over the
            unmasked positions and are 0 elsewhere.
        """
        scores = self.scores(query, projected_keys).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)
        return context, weights


class AdditiveAttention(Attention):
    """Bahdanau et al. (2015): ``v^T tanh(W q + U k)``.

    Args:
        query_size: decoder state size H (given by the decoder).
        key_size: encoder output size F (given by the decoder).
        hidden_size: size A of the tanh layer; None (the default) means the query size H.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int | None = None) -> None:
        super().__init__()
        hidden_size = hidden_size or query_size
        self.key_layer = nn.Linear(key_size, hidden_size, bias=False)
        self.query_layer = nn.Linear(query_size, hidden_size, bias=False)
        self.energy_layer = nn.Linear(hidden_size, 1, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """The key half of the tanh layer, ``U k``.

        Args:
            keys: encoder outputs (B, S, F).

        Returns:
            Projected keys (B, S, A).
        """
        return self.key_layer(keys)

    def scores(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """Scores ``v^T tanh(W q + U k)``.

        Args:
            query: decoder state (B, H).
            projected_keys: ``U k`` (B, S, A).

        Returns:
            Scores (B, S).
        """
        energy = torch.tanh(self.query_layer(query).unsqueeze(1) + projected_keys)
        return self.energy_layer(energy).squeeze(2)


class DotAttention(Attention):
    """Luong et al. (2015) ``dot``: ``q^T k``; needs query size == key size (H == F, so A == F).

    Args:
        query_size: decoder state size H (given by the decoder).
        key_size: encoder output size F (given by the decoder); must equal ``query_size``.
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        if query_size != key_size:
            raise ValueError(
                f"dot attention needs equal query and key sizes, got {query_size} and "
                f"{key_size}; use GeneralAttention or AdditiveAttention"
            )

    def scores(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """Scores ``q^T k``.

        Args:
            query: decoder state (B, H).
            projected_keys: keys (B, S, A) with A == H.

        Returns:
            Scores (B, S).
        """
        return torch.bmm(projected_keys, query.unsqueeze(2)).squeeze(2)


class GeneralAttention(DotAttention):
    """Luong et al. (2015) ``general``: ``q^T W k``; keys are projected to the query size (A == H).

    Args:
        query_size: decoder state size H (given by the decoder).
        key_size: encoder output size F (given by the decoder).
    """

    def __init__(self, query_size: int, key_size: int) -> None:
        Attention.__init__(self)
        self.key_layer = nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """The projection ``W k``.

        Args:
            keys: encoder outputs (B, S, F).

        Returns:
            Projected keys (B, S, H).
        """
        return self.key_layer(keys)


AttentionFactory = Callable[[int, int], Attention]
"""(query_size, key_size) -> attention."""
