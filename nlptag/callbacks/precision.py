"""bf16 mixed precision that clips the gradients of fused optimizers.

Lightning's ``MixedPrecision`` refuses gradient clipping with an optimizer that "performs
unscaling internally" (``fused=True`` Adam), a check meant for fp16, whose gradients are scaled.
bf16 needs no scaling: its gradients are the true ones, so clipping them is exact, and every
config clips (``gradient_clip_val``) with fused Adam. ``nlptag fit --trainer.precision
bf16-mixed`` runs this plugin in place of Lightning's.
"""

from __future__ import annotations

from typing import Literal

from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.utilities import GradClipAlgorithmType
from torch.optim import Optimizer


class BF16MixedPrecision(MixedPrecision):
    """``precision: bf16-mixed``: the forward pass under bf16 autocast, float32 weights, and
    gradient clipping with any optimizer.

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
