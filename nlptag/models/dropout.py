"""Dropout drawn from ``torch.rand``: the same inverted dropout as ``F.dropout``, faster on CPUs.

``F.dropout`` draws its mask with ``bernoulli_``; on a CPU it takes 3.28 times as long, forward +
backward, as this (``benchmarks/kernel_choices``), and dropout was 4.8-7.9% of a tagger's
training step with it (``benchmarks/profile_step`` at commit 6062985). Here the mask is
``rand >= p``, scaled by ``1 / (1 - p)``; it is drawn in float32 whatever the input's dtype, so
a bf16 input gets the same masks.

Shape letters as in :mod:`nlptag.models`.
"""

from __future__ import annotations

import torch
from torch import nn


def dropout(inputs: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout: each value is zeroed with probability ``p``, the rest scaled up.

    Args:
        inputs: any tensor (...,).
        p: probability of zeroing a value, in [0, 1].
        training: apply it; False returns ``inputs`` unchanged.

    Returns:
        A tensor like ``inputs``; its expected value is ``inputs``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return inputs
    if p == 1.0:
        return inputs * 0.0
    keep = torch.rand(inputs.shape, device=inputs.device) >= p
    return inputs * keep.to(inputs.dtype).mul_(1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """``nn.Dropout`` running :func:`dropout` (same arguments, no in-place variant).

    Args:
        p: probability of zeroing a value, in [0, 1].
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Apply dropout in training mode.

        Args:
            inputs: any tensor (...,).

        Returns:
            A tensor like ``inputs``.
        """
        return dropout(inputs, self.p, self.training)
