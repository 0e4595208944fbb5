"""Attention heatmaps of a translation: which source subwords each output subword looked at."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch


def save_attention_heatmap(
    weights: torch.Tensor,
    source_tokens: Sequence[str],
    output_tokens: Sequence[str],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Write weights (N, S) as a PNG: source tokens (S) along the x axis, output tokens (N)
    down the y axis, darker = more attention. Returns the path written."""
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
