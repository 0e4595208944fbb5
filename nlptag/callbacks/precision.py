"""Precision plugins: float32 and bf16 mixed precision, both clipping the gradient norm without
the multiply by 1 that ``torch.nn.utils.clip_grad_norm_`` does when the norm is within bounds.

``clip_grad_norm_`` always multiplies every gradient by ``min(max_norm / (norm + 1e-6), 1)``,
so that on a GPU it needs no host sync; on a CPU that is a pass over all the gradients (0.5 ms of
the NER config's 48 ms step in the README's profile at d32fe8a) which, whenever the norm is within
bounds, multiplies by exactly 1. :func:`clip_grad_norm_` skips it then, and gives the same
gradients bit for bit.

Lightning's ``MixedPrecision`` refuses gradient clipping with an optimizer that "performs
unscaling internally" (``fused=True`` Adam), a check meant for fp16, whose gradients are scaled.
bf16 needs no scaling: its gradients are the true ones, so clipping them is exact, and every
config clips (``gradient_clip_val``) with fused Adam. ``nlptag fit --trainer.precision
bf16-mixed`` runs this plugin in place of Lightning's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.utilities import GradClipAlgorithmType
from torch.optim import Optimizer


@torch.no_grad()
def clip_grad_norm_(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_(parameters, max_norm)`` (2-norm over all gradients),
    without the multiply when it would be by exactly 1 and the gradients are on the CPU.

    Args:
        parameters: tensors whose ``.grad`` are clipped in place.
        max_norm: the largest total norm.

    Returns:
        The total norm of the gradients before clipping, () float.
    """
    parameters = list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.nn.utils.get_total_norm(grads, 2.0)
    if total.device.type == "cpu" and bool(float(max_norm) / (total + 1e-6) >= 1.0):
        return total  # the coefficient clamps to 1 (a NaN norm fails the test and is applied)
    torch.nn.utils.clip_grads_with_norm_(parameters, max_norm, total)
    return total


class NormClipping:
    """Mixin for a Lightning precision plugin: clip the gradient norm with
    :func:`clip_grad_norm_`."""

    def clip_grad_by_norm(self, optimizer: Optimizer, clip_val: int | float) -> None:
        clip_grad_norm_(self.main_params(optimizer), clip_val)


class Float32Precision(NormClipping, Precision):
    """``precision: 32-true`` (Lightning's default plugin) with :func:`clip_grad_norm_`."""


class BF16MixedPrecision(NormClipping, MixedPrecision):
    """``precision: bf16-mixed``: the forward pass under bf16 autocast, float32 weights, and
    gradient clipping (:func:`clip_grad_norm_` for the norm) with any optimizer.

    Args:
        device: ``cpu`` or ``cuda``: where autocast runs.
    """

    def __init__(self, device: Literal["cpu", "cuda"] = "cpu") -> None:
        super().__init__("bf16-mixed", device)

    def clip_gradients(
        self,
        optimizer: Optimizer,
        clip_val: int | float = 0.0,
        gradient_clip_algorithm: GradClipAlgorithmType = GradClipAlgorithmType.NORM,
    ) -> None:
        """Clip as in float32 precision: bf16 gradients are not scaled."""
        Precision.clip_gradients(self, optimizer, clip_val, gradient_clip_algorithm)
