"""nlptag/vision/images.py: pixel layout, bicubic squashing and mode conversion checked on tiny
generated images against hand computations, and errors that name the file."""

from __future__ import annotations

import re

import pytest
import torch

from nlptag.errors import NlptagError
from nlptag.vision.images import IMAGE_SIZE, load_pixels, read_image, to_pixels

Image = pytest.importorskip("PIL.Image")


def numbered(width: int, height: int):
    """An RGB image whose pixel (x, y) is (10 x + y, 100 + x, 200 + y)."""
    image = Image.new("RGB", (width, height))
    for x in range(width):
        for y in range(height):
            image.putpixel((x, y), (10 * x + y, 100 + x, 200 + y))
    return image


def test_pixels_are_channels_first_rows_then_columns():
    pixels = to_pixels(numbered(3, 3), size=3)  # already 3 x 3: not resampled
    assert pixels.dtype == torch.uint8 and pixels.shape == (3, 3, 3)
    for x in range(3):
        for y in range(3):
            assert pixels[:, y, x].tolist() == [10 * x + y, 100 + x, 200 + y]


def test_an_image_of_the_right_size_is_left_as_it_is():
    generator = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), generator=generator)
    data = noise.to(torch.uint8).numpy()
    pixels = load_pixels(Image.fromarray(data))
    assert pixels.shape == (3, IMAGE_SIZE, IMAGE_SIZE)
    assert torch.equal(pixels, noise.to(torch.uint8).permute(2, 0, 1))


def test_squashing_is_bicubic_and_ignores_the_aspect_ratio():
    """A 2 x 1 image, black | white, stretched to 4 x 4. Bicubic (a = -0.5) from output centres
    0.25, 0.75, 1.25, 1.75 with clamped edges: at 0.75 the weights are f(0.25) = 0.8671875 on
    black and f(0.75) = 0.2265625 on white, normalised: 255 * 0.2265625 / 1.09375 = 52.8 -> 53;
    at 0.25 the white weight f(1.25) is negative, clipped to 0; the right half mirrors it.
    (Bilinear would give 64 and 191.) The single row is stretched to every row."""
    image = Image.new("RGB", (2, 1))
    image.putpixel((1, 0), (255, 255, 255))
    pixels = to_pixels(image, size=4)
    assert pixels.shape == (3, 4, 4)
    assert pixels.tolist() == [[[0, 53, 202, 255]] * 4] * 3


def test_other_modes_become_rgb():
    grey = Image.new("L", (2, 2), 77)
    assert to_pixels(grey, size=2).unique().tolist() == [77]
    transparent = Image.new("RGBA", (2, 2), (10, 20, 30, 0))  # alpha dropped, not blended
    assert to_pixels(transparent, size=2)[:, 1, 1].tolist() == [10, 20, 30]
    palette = Image.new("P", (2, 1), 0)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.putpixel((1, 0), 1)
    assert to_pixels(palette, size=2).tolist() == [[[0, 200]] * 2, [[0, 100]] * 2, [[0, 50]] * 2]


def test_a_path_and_the_same_pil_image_give_the_same_pixels(tmp_path):
    image = numbered(5, 3)
    path = tmp_path / "small.png"  # lossless
    image.save(path)
    from_pil = load_pixels(image, size=8)
    assert torch.equal(load_pixels(path, size=8), from_pil)
    assert torch.equal(load_pixels(str(path), size=8), from_pil)
    assert load_pixels(path).shape == (3, IMAGE_SIZE, IMAGE_SIZE)


def test_read_image_decodes_fully_into_rgb(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("LA", (3, 2), (90, 128)).save(path)
    image = read_image(path)
    path.unlink()  # decoded already: the file is no longer needed
    assert image.mode == "RGB" and image.size == (3, 2)
    assert to_pixels(image, size=3).unique().tolist() == [90]


def test_a_missing_file_or_a_folder_is_named(tmp_path):
    missing = tmp_path / "nope.jpg"
    for path in (missing, str(missing), tmp_path):
        with pytest.raises(NlptagError, match=re.escape(f"{path}: no such image file")):
            read_image(path)
    with pytest.raises(NlptagError, match=re.escape(f"{missing}: no such image file")):
        load_pixels(missing)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.jpg", b"these are not pixels\n"),
        ("empty.png", b""),
        ("cut.png", None),  # a PNG cut short
    ],
)
def test_a_file_that_is_not_a_readable_image_is_named(tmp_path, name, content):
    path = tmp_path / name
    if content is None:
        numbered(40, 40).save(path)
        content = path.read_bytes()[:60]
    path.write_bytes(content)
    with pytest.raises(NlptagError, match=re.escape(f"{path}: not a readable image (")):
        read_image(path)
    with pytest.raises(NlptagError, match=re.escape(str(path))):
        load_pixels(path)


@pytest.mark.parametrize(("value", "kind"), [(3, "int"), (b"x.png", "bytes"), (None, "NoneType")])
def test_load_pixels_rejects_what_is_neither_a_path_nor_an_image(value, kind):
    with pytest.raises(NlptagError, match=f"expected an image path or a PIL image, got {kind}$"):
        load_pixels(value)
