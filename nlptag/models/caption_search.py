"""How captions are searched for: greedy and beam search, or sampling.

Greedy and beam search are the batched functions of :mod:`nlptag.models.search`, which drive
any network with ``encode`` and a decoder ``step``; sampling draws with a temperature and top-k.
Every strategy stops at ``</s>`` or ``max_length``.

Shape letters as in :mod:`nlptag.models`: ``B`` images, ``K`` beams, ``T`` caption words, ``R``
regions of the feature grid, ``F`` image feature size.
"""

from __future__ import annotations

from typing import Literal

import torch

from nlptag.models.captioning import CaptionNetwork
from nlptag.models.search import Hypotheses, beam_search, greedy_search, strip_special
from nlptag.text.specials import BOS_ID, EOS_ID, PAD_ID, UNK_ID


@torch.no_grad()
def sample_captions(
    model: CaptionNetwork,
    grid: torch.Tensor,
    max_length: int = 20,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Hypotheses:
    """One caption per image, each word drawn from ``softmax(logits / temperature)``.

    Words are drawn among the ``top_k`` most likely when given (``<unk>`` is never drawn);
    temperature 0 is greedy. Scores are the summed log-probabilities of the drawn words under the
    model.

    Args:
        model: the captioning network.
        grid: image features (B, R, F).
        max_length: most words per caption, ``</s>`` included.
        temperature: sampling temperature (0 = greedy).
        top_k: sample among the k most likely words (``None``: all).
        generator: the random generator of the draws (``None``: the default one).

    Returns:
        One hypothesis per image (K = 1): tokens (B, 1, T) padded with ``<pad>`` after ``</s>``,
        scores (B, 1) and attention weights (B, 1, T, R) (zeros for decoders without attention).
    """
    memory, state = model.encode(grid)
    batch = grid.size(0)
    previous = torch.full((batch,), BOS_ID, dtype=torch.long, device=grid.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=grid.device)
    scores = grid.new_zeros(batch)
    tokens, attention = [], []
    for step in range(max_length):
        vector, state, weights = model.decoder.step(previous, state, memory)
        logits = model.decoder.logits(vector).float()
        logits[:, UNK_ID] = float("-inf")
        log_probs = torch.log_softmax(logits, dim=-1)
        if step + 1 >= max_length:
            drawn = torch.full_like(previous, EOS_ID)
        elif temperature == 0:
            drawn = logits.argmax(dim=-1)
        else:
            scaled = logits / temperature
            if top_k is not None and top_k < scaled.size(1):
                kth = scaled.topk(top_k, dim=-1).values[:, -1:]
                scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            drawn = torch.multinomial(scaled.softmax(dim=-1), 1, generator=generator).squeeze(1)
        drawn = drawn.masked_fill(finished, PAD_ID)
        picked = log_probs.gather(1, drawn.clamp(min=0).unsqueeze(1)).squeeze(1)
        scores = scores + picked.masked_fill(finished, 0.0)
        tokens.append(drawn)
        attention.append(weights.masked_fill(finished.unsqueeze(1), 0.0))
        finished = finished | drawn.eq(EOS_ID)
        previous = drawn
        if bool(finished.all()):
            break
    return Hypotheses(
        torch.stack(tokens, dim=1).unsqueeze(1),
        scores.unsqueeze(1),
        torch.stack(attention, dim=1).unsqueeze(1),
    )


class CaptionSearch:
    """How a caption is searched for: beam search (greedy for one beam) or sampling.

    A plain object (no parameters) that the captioning task and the captioning predictor share.

    Args:
        strategy: ``beam`` (greedy when ``beam_size`` is 1) or ``sample``.
        beam_size: beams per image K at test and predict time.
        length_penalty: GNMT length penalty exponent alpha for beam search (0 = none).
        max_length: most words per caption, ``</s>`` included.
        temperature: sampling temperature (0 = greedy).
        top_k: sample among the k most likely words (``None``: all).
        seed: seed of the sampling generator (``None``: a fresh seed each call).
    """

    def __init__(
        self,
        strategy: Literal["beam", "sample"] = "beam",
        beam_size: int = 3,
        length_penalty: float = 0.0,
        max_length: int = 20,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
    ) -> None:
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self.strategy = strategy
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.max_length = max_length
        self.temperature = temperature
        self.top_k = top_k
        self.seed = seed

    def __call__(
        self,
        model: CaptionNetwork,
        grid: torch.Tensor,
        beam_size: int | None = None,
        return_attention: bool = False,
        strategy: str | None = None,
    ) -> Hypotheses:
        """Search captions of a batch of images.

        Args:
            model: the captioning network.
            grid: image features (B, R, F).
            beam_size: overrides the configured beam size when given.
            return_attention: also return the attention weights of every output word (sampling
                always returns them).
            strategy: overrides the configured strategy when given.

        Returns:
            K hypotheses per image, best first (K = 1 for greedy search and sampling), with the
            attention weights (B, K, T, R) when asked for.
        """
        strategy = strategy or self.strategy
        if strategy == "sample":
            generator = torch.Generator(device=grid.device)
            generator.manual_seed(self.seed) if self.seed is not None else generator.seed()
            return sample_captions(
                model, grid, self.max_length, self.temperature, self.top_k, generator
            )
        beam_size = self.beam_size if beam_size is None else beam_size
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        # the length limit is ceil(ratio * source length) + offset: ratio 0, offset max_length
        ones = torch.ones(grid.size(0), dtype=torch.long, device=grid.device)
        limits = dict(
            max_length_ratio=0.0,
            max_length_offset=self.max_length,
            return_attention=return_attention,
        )
        if beam_size == 1:
            return greedy_search(model, grid, ones, **limits)
        return beam_search(model, grid, ones, beam_size, alpha=self.length_penalty, **limits)

    def best(
        self,
        model: CaptionNetwork,
        grid: torch.Tensor,
        beam_size: int | None = None,
        strategy: str | None = None,
    ) -> list[list[int]]:
        """The best caption of each image as word ids without specials.

        Args:
            model: the captioning network.
            grid: image features (B, R, F).
            beam_size: overrides the configured beam size when given.
            strategy: overrides the configured strategy when given.

        Returns:
            One list of word ids per image.
        """
        hypotheses = self(model, grid, beam_size, strategy=strategy)
        return [strip_special(row) for row in hypotheses.tokens[:, 0].tolist()]

    def best_with_attention(
        self,
        model: CaptionNetwork,
        grid: torch.Tensor,
        beam_size: int | None = None,
        strategy: str | None = None,
    ) -> list[tuple[list[int], torch.Tensor]]:
        """The best caption of each image with its attention weights.

        Args:
            model: the captioning network.
            grid: image features (B, R, F).
            beam_size: overrides the configured beam size when given.
            strategy: overrides the configured strategy when given.

        Returns:
            For each image, its word ids up to and including ``</s>`` (T' of them) and their
            attention weights (T', R), one row per output word.
        """
        hypotheses = self(model, grid, beam_size, return_attention=True, strategy=strategy)
        results = []
        for tokens, weights in zip(hypotheses.tokens[:, 0].tolist(), hypotheses.attention[:, 0]):
            kept = [t for t in tokens if t != PAD_ID]
            results.append((kept, weights[: len(kept)]))
        return results
