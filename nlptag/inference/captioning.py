"""The captioning predictor: raw images (paths of any format Pillow reads, or PIL images) ->
captions, with torch alone. Images are squashed to 224 x 224 as the training photos were, run
through the bundle's frozen encoder, and captioned by the bundle's search.

Shapes: ``B`` images, ``R`` regions, ``K`` feature size, ``N`` output words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from nlptag.errors import NlptagError
from nlptag.inference.build import build
from nlptag.inference.bundle import Bundle
from nlptag.inference.predictors import Predictor
from nlptag.models.caption_search import CaptionSearch
from nlptag.text.specials import EOS_ID, SUBWORD_SPECIALS
from nlptag.vision.features import FeatureCache
from nlptag.vision.images import ImageInput, load_pixels


class CaptionPredictor(Predictor):
    """Captions images with the bundle's encoder, network and search."""

    task = "captioning"

    def __init__(self, bundle: Bundle, network: nn.Module, session: Any = None) -> None:
        if session is not None:
            raise NlptagError("captioning models run in torch only (no ONNX export)")
        super().__init__(bundle, network, session)
        self.search: CaptionSearch = build(bundle.options["search"], bundle.source)
        self.words: list[str] = bundle.vocabularies["words"]
        self.encoder_name = bundle.data.get("encoder", "efficientnet-lite0")
        self._features = FeatureCache(self.encoder_name)

    def decode(self, ids: Sequence[int]) -> str:
        """Word ids -> the caption: words up to ``</s>``, specials and ``<unk>`` left out."""
        words = []
        for i in ids:
            if i == EOS_ID:
                break
            if i >= len(SUBWORD_SPECIALS):
                words.append(self.words[i])
        return " ".join(words)

    def grids(self, images: Sequence[ImageInput]) -> torch.Tensor:
        """Grids (B, R, K) of the images, computed now."""
        return self._features.encoder(torch.stack([load_pixels(i) for i in images])).float()

    @torch.inference_mode()
    def predict(
        self,
        inputs: Sequence[ImageInput],
        batch_size: int = 16,
        beam_size: int | None = None,
        strategy: str | None = None,
    ) -> list[str]:
        """The caption of each image (a path or a PIL image), by the bundle's search, or with
        ``beam_size`` beams (1 = greedy), or ``strategy="sample"``."""
        if isinstance(inputs, str):
            inputs = [inputs]
        if batch_size < 1:
            raise NlptagError("batch_size must be at least 1")
        results: list[str] = []
        for start in range(0, len(inputs), batch_size):
            grids = self.grids(inputs[start : start + batch_size])
            best = self.search.best(self.network, grids, beam_size, strategy)
            results += [self.decode(ids) for ids in best]
        return results

    @torch.inference_mode()
    def attention(self, image: ImageInput, beam_size: int | None = None) -> dict:
        """``{"caption", "words", "weights", "pixels"}`` for one image: the generated words
        (``</s>`` included), their attention (N, R) over the regions, and the pixels
        (3, 224, 224) the encoder saw."""
        pixels = load_pixels(image)
        grids = self._features.encoder(pixels.unsqueeze(0)).float()
        ((ids, weights),) = self.search.best_with_attention(self.network, grids, beam_size)
        words = [self.words[i] for i in ids]
        return {"caption": self.decode(ids), "words": words, "weights": weights, "pixels": pixels}
