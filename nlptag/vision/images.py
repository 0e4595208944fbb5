"""Reading images as the captioning encoders see them: RGB, squashed (aspect ratio not kept) to
224 x 224, the way the Flickr8k photos of the data mirror were made.

Shapes: ``B`` images; pixels are ``uint8`` tensors (3, 224, 224), channels first, 0..255.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nlptag.errors import NlptagError

IMAGE_SIZE = 224
"""Width and height every image is resized to."""

ImageInput = Any
"""A path (``str`` or ``Path``) or a ``PIL.Image.Image``."""


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise NlptagError(
            'captioning needs Pillow: pip install -e ".[vision]" (or pip install pillow)'
        ) from None
    return Image


def read_image(path: str | Path):
    """The image at ``path`` as an RGB ``PIL.Image``, fully decoded; a missing, unreadable,
    truncated or non-image file is one :class:`NlptagError` naming it."""
    Image = _pillow()
    path = Path(path)
    if not path.is_file():
        raise NlptagError(f"{path}: no such image file")
    try:
        with Image.open(path) as opened:
            opened.load()  # decode now: a truncated file fails here, not later
            return opened.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise NlptagError(f"{path}: not a readable image ({error})") from None


def to_pixels(image, size: int = IMAGE_SIZE) -> torch.Tensor:
    """An RGB ``PIL.Image`` -> pixels (3, size, size) uint8, squashed with bicubic resampling
    (an image already ``size`` x ``size`` is left as it is)."""
    Image = _pillow()
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return data.view(size, size, 3).permute(2, 0, 1).contiguous()


def load_pixels(image: ImageInput, size: int = IMAGE_SIZE) -> torch.Tensor:
    """A path or PIL image -> pixels (3, size, size) uint8."""
    if isinstance(image, str | Path):
        return to_pixels(read_image(image), size)
    if hasattr(image, "convert") and hasattr(image, "size"):
        return to_pixels(image, size)
    raise NlptagError(f"expected an image path or a PIL image, got {type(image).__name__}")
