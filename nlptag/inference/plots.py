"""Attention heatmaps of a translation: which source subwords each output subword looked at."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from nlptag.files import write_with


def _save_png(figure, path: str | Path, dpi: int) -> Path:
    """Write a matplotlib figure as a PNG at exactly ``path`` (whatever its suffix), crash-safely,
    and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # written beside the target, then renamed: never a half-written picture
        write_with(
            path, lambda temporary: figure.savefig(temporary, dpi=dpi, format="png"), "picture"
        )
    finally:
        plt.close(figure)
    return path


def save_attention_heatmap(
    weights: torch.Tensor,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Write weights (N, S) as a PNG at ``path``: source tokens (S) along the x axis, output
    tokens (N) down the y axis, darker = more attention. Returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = weights.detach().float().cpu()
    if tuple(weights.shape) != (len(output_tokens), len(source_tokens)):
        raise ValueError(
            f"weights of shape {tuple(weights.shape)} do not match {len(output_tokens)} output "
            f"and {len(source_tokens)} source tokens"
        )
    width = max(4.0, 0.45 * len(source_tokens) + 1.5)
    height = max(3.0, 0.4 * len(output_tokens) + 1.5)
    figure, axes = plt.subplots(figsize=(width, height))
    axes.imshow(weights.numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source_tokens)), labels=list(source_tokens), rotation=60, ha="right")
    axes.set_yticks(range(len(output_tokens)), labels=list(output_tokens))
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    if title:
        axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save_png(figure, path, dpi=120)


def save_caption_attention(
    pixels: torch.Tensor,
    words: Sequence[str],
    weights: torch.Tensor,
    path: str | Path,
    title: str | None = None,
    columns: int = 5,
) -> Path:
    """Write the image with each generated word's attention over its regions overlaid, one
    panel per word: pixels (3, H, W) uint8, weights (N, R) with R a square grid (49 = 7 x 7)
    upsampled to the image (bilinear); brighter = more attention. Returns the path written."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = weights.detach().float().cpu()
    side = math.isqrt(weights.size(1))
    if side == 0 or side * side != weights.size(1) or weights.size(0) != len(words):
        raise ValueError(
            f"weights of shape {tuple(weights.shape)} do not match {len(words)} words over a "
            "square grid of regions"
        )
    image = pixels.permute(1, 2, 0).cpu().numpy()
    height, width = image.shape[:2]
    maps = torch.nn.functional.interpolate(
        weights.view(-1, 1, side, side),
        size=(height, width),
        mode="bilinear",
        align_corners=False,
    ).squeeze(1)
    panels = len(words) + 1
    columns = min(columns, panels)
    rows = math.ceil(panels / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes.flat[0].imshow(image)
    axes.flat[0].set_title("image", fontsize=9)
    for ax, word, heat in zip(axes.flat[1:], words, maps):
        ax.imshow(image)
        ax.imshow(heat.numpy(), cmap="gray", alpha=0.6, vmin=0.0, vmax=float(heat.max()) or 1.0)
        ax.set_title(word, fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save_png(figure, path, dpi=100)
