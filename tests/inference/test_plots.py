"""nlptag/inference/plots.py: the PNGs written (signature, size from the documented figure
sizes, colours on the fixed scale), what the figures draw, and the shape errors."""

from __future__ import annotations

import collections
import re

import pytest
import torch

from nlptag.inference.plots import save_attention_heatmap, save_caption_attention

matplotlib = pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")
import matplotlib.pyplot as plt  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def figures(monkeypatch):
    """The figures the plotting functions close, kept for inspection."""
    closed = []
    close = plt.close

    def keep(figure=None):
        closed.append(figure)
        close(figure)

    monkeypatch.setattr(plt, "close", keep)
    return closed


def read_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.convert("RGB")


def colour_counts(image) -> collections.Counter:
    return collections.Counter(map(tuple, image.getdata()))


def near(colour, target, tolerance=2) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target))


# save_attention_heatmap


@pytest.mark.parametrize(
    ("sources", "outputs", "size"),
    [
        # width max(4, 0.45 * 3 + 1.5) = 4 in, height max(3, 0.4 * 2 + 1.5) = 3 in, at 120 dpi
        (3, 2, (480, 360)),
        # 0.45 * 10 + 1.5 = 6 in and 0.4 * 5 + 1.5 = 3.5 in
        (10, 5, (720, 420)),
    ],
)
def test_heatmap_is_a_png_sized_by_the_token_counts(tmp_path, sources, outputs, size):
    path = tmp_path / "nested" / "dir" / "heat.png"  # parents are created
    written = save_attention_heatmap(
        torch.rand(outputs, sources),
        [f"s{i}" for i in range(sources)],
        [f"o{i}" for i in range(outputs)],
        str(path),
    )
    assert written == path
    assert read_png(path).size == size


@pytest.mark.parametrize("value", [0.25, 0.75, 1.0])
def test_heatmap_shades_on_a_fixed_zero_to_one_scale(tmp_path, value):
    """A constant matrix is drawn in the Greys colour of its value (not rescaled to its own
    range, which would make any constant white): the most common colour but white."""
    path = save_attention_heatmap(
        torch.full((2, 3), value), ["a", "b", "c"], ["x", "y"], tmp_path / "heat.png"
    )
    expected = [round(255 * c) for c in matplotlib.colormaps["Greys"](value)[:3]]
    counts = colour_counts(read_png(path))
    colour, count = next((c, n) for c, n in counts.most_common() if c != (255, 255, 255))
    assert near(colour, expected), (colour, expected)
    assert count > 0.3 * sum(counts.values())  # the plot, not the text
    if value == 1.0:
        assert colour == (0, 0, 0)


def test_heatmap_draws_the_tokens_weights_and_title(tmp_path, figures):
    weights = torch.tensor([[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]], dtype=torch.bfloat16)
    weights.requires_grad_(True)  # detached inside
    open_before = plt.get_fignums()
    save_attention_heatmap(
        weights, ["▁le", "▁chat", "."], ["▁the", "▁cat"], tmp_path / "h.png", title="a title"
    )
    assert plt.get_fignums() == open_before  # the figure is closed, not leaked
    (figure,) = figures
    (axes,) = figure.axes
    assert [t.get_text() for t in axes.get_xticklabels()] == ["▁le", "▁chat", "."]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["▁the", "▁cat"]
    assert (axes.get_xlabel(), axes.get_ylabel(), axes.get_title()) == (
        "source",
        "output",
        "a title",
    )
    (image,) = axes.images
    assert image.get_array().tolist() == [[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]
    assert image.get_clim() == (0.0, 1.0) and image.get_cmap().name == "Greys"


def test_heatmap_without_a_title_has_none(tmp_path, figures):
    save_attention_heatmap(torch.eye(2), ["a", "b"], ["x", "y"], tmp_path / "h.png")
    assert figures[0].axes[0].get_title() == ""


def test_heatmap_rejects_weights_that_do_not_match_the_tokens(tmp_path):
    path = tmp_path / "h.png"
    with pytest.raises(ValueError, match=r"weights of shape \(2, 3\) do not match 3 output and 2"):
        save_attention_heatmap(torch.zeros(2, 3), ["a", "b"], ["x", "y", "z"], path)
    assert not path.exists()


@pytest.mark.parametrize("name", ["heat", "heat.svg", "heat.txt"])
def test_heatmap_is_a_png_at_exactly_the_path_given_whatever_its_suffix(tmp_path, name):
    written = save_attention_heatmap(torch.eye(2), ["a", "b"], ["x", "y"], tmp_path / name)
    assert written == tmp_path / name
    assert written.read_bytes().startswith(PNG_SIGNATURE)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary left, no .png added


# save_caption_attention


def red_pixels(height: int = 20, width: int = 30) -> torch.Tensor:
    pixels = torch.zeros(3, height, width, dtype=torch.uint8)
    pixels[0] = 255
    return pixels


@pytest.mark.parametrize(
    ("words", "columns", "size"),
    [
        (2, 5, (660, 240)),  # 3 panels: 3 columns of 2.2 in, 1 row of 2.4 in, at 100 dpi
        (6, 5, (1100, 480)),  # 7 panels: 5 columns, 2 rows
        (3, 2, (440, 480)),  # 4 panels: 2 columns, 2 rows
    ],
)
def test_caption_attention_is_a_png_sized_by_the_panels(tmp_path, words, columns, size):
    path = tmp_path / "deep" / "caption.png"
    written = save_caption_attention(
        red_pixels(), [f"w{i}" for i in range(words)], torch.rand(words, 4), path, columns=columns
    )
    assert written == path
    assert read_png(path).size == size


def test_caption_attention_overlays_brighter_where_attention_is_higher(tmp_path):
    """On a red image: the plain panel is red; a panel of even attention is at its own maximum
    everywhere, so a white overlay at alpha 0.6: (255, 0.6 * 255, 0.6 * 255) = (255, 153, 153);
    a panel of no attention is black at 0.6: (0.4 * 255, 0, 0) = (102, 0, 0)."""
    weights = torch.tensor([[0.25] * 4, [0.0] * 4])
    path = save_caption_attention(red_pixels(), ["even", "none"], weights, tmp_path / "c.png")
    counts = colour_counts(read_png(path))
    total = sum(counts.values())
    found = {}
    for name, target in {"red": (255, 0, 0), "even": (255, 153, 153), "none": (102, 0, 0)}.items():
        found[name] = sum(n for c, n in counts.items() if near(c, target, tolerance=1))
        assert found[name] > 0.1 * total, (name, counts.most_common(6))
    assert found["red"] == found["even"] == found["none"]  # three panels of the same size


def test_caption_attention_upsamples_each_map_bilinearly(tmp_path, figures):
    """A 2 x 2 grid upsampled to 4 x 4 (bilinear, half-pixel centres, clamped edges): one
    region of weight 1 falls off as 1, 0.75, 0.25, 0 along each axis."""
    pixels = red_pixels(4, 4)
    weights = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5]])
    save_caption_attention(pixels, ["top", "bottom"], weights, tmp_path / "c.png", title="t")
    (figure,) = figures
    axes = figure.axes
    assert [a.get_title() for a in axes] == ["image", "top", "bottom"]
    assert figure.get_suptitle() == "t"
    assert axes[0].images[0].get_array().tolist() == pixels.permute(1, 2, 0).tolist()
    profile = torch.tensor([1.0, 0.75, 0.25, 0.0])
    first, second = (a.images[1] for a in axes[1:])
    torch.testing.assert_close(torch.tensor(first.get_array()), torch.outer(profile, profile))
    flipped = 0.5 * torch.outer(profile.flip(0), profile.flip(0))
    torch.testing.assert_close(torch.tensor(second.get_array()), flipped)
    # each map is scaled to its own maximum
    assert first.get_clim() == (0.0, 1.0) and second.get_clim() == (0.0, 0.5)


def test_caption_attention_leaves_spare_panels_blank(tmp_path, figures):
    save_caption_attention(red_pixels(), list("abcdef"), torch.rand(6, 9), tmp_path / "c.png")
    axes = figures[0].axes
    assert len(axes) == 10  # 7 panels on 2 rows of 5
    assert [len(a.images) for a in axes] == [1] + [2] * 6 + [0] * 3
    assert not any(a.axison for a in axes)


def test_caption_attention_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "c.png"
    path.write_bytes(b"old")
    open_before = plt.get_fignums()
    save_caption_attention(red_pixels(), ["a"], torch.rand(1, 4), path)
    assert plt.get_fignums() == open_before
    assert read_png(path).size == (440, 240)
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


@pytest.mark.parametrize(
    ("words", "weights"),
    [
        (["a", "b"], torch.rand(2, 5)),
        (["a"], torch.rand(2, 4)),
        (["a", "b", "c"], torch.rand(3, 8)),
        (["a"], torch.rand(1, 0)),  # no regions at all
    ],
)
def test_caption_attention_rejects_weights_that_do_not_fit(tmp_path, words, weights):
    path = tmp_path / "c.png"
    message = f"weights of shape {tuple(weights.shape)} do not match {len(words)} words"
    with pytest.raises(ValueError, match=re.escape(message)):
        save_caption_attention(red_pixels(), words, weights, path)
    assert not path.exists()
