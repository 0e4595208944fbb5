"""Greedy decoding and beam search for :class:`~nlptag.models.seq2seq.Seq2Seq`.

Both are batched over sentences and beams (the only Python loop is over output positions). Shape
letters as in :mod:`nlptag.models`: ``B`` sentences, ``K`` beams, ``S`` source length, ``T``
output length, ``V`` target vocabulary size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nlptag.models.seq2seq import Seq2Seq
from nlptag.text.specials import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Hypotheses:
    """Search output, best hypothesis first (K = 1 for greedy search).

    Args:
        tokens: target ids (B, K, T) long, padded with ``<pad>``; each hypothesis ends with
            ``</s>`` unless cut by the length limit.
        scores: (B, K) length-penalised log-probabilities (summed log-probabilities for greedy
            search), best first.
        attention: attention weights (B, K, T, S) of every output token, when asked for; None
            otherwise.
    """

    tokens: torch.Tensor
    scores: torch.Tensor
    attention: torch.Tensor | None = None


def max_output_lengths(
    source_lengths: torch.Tensor, ratio: float = 1.5, offset: int = 10
) -> torch.Tensor:
    """At most ``ceil(ratio * source length) + offset`` output tokens, ``</s>`` included.

    Args:
        source_lengths: source tokens per sentence (B,) long.
        ratio: output tokens allowed per source token.
        offset: output tokens allowed on top.

    Returns:
        The length limits (B,) long.
    """
    return torch.ceil(source_lengths.float() * ratio).long() + offset


def length_penalty(lengths: torch.Tensor, alpha: float) -> torch.Tensor:
    """GNMT length penalty ``((5 + length) / 6) ** alpha`` (Wu et al. 2016); 1 when alpha = 0.

    Args:
        lengths: hypothesis lengths, any shape.
        alpha: the exponent, >= 0.

    Returns:
        Penalties, float, of the shape of ``lengths``.
    """
    return ((5.0 + lengths.float()) / 6.0).pow(alpha)


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    source: torch.Tensor,
    source_lengths: torch.Tensor,
    beam_size: int = 5,
    alpha: float = 0.0,
    max_length_ratio: float = 1.5,
    max_length_offset: int = 10,
    return_attention: bool = False,
) -> Hypotheses:
    """Beam search over all sentences and beams at once.

    Candidates are ranked by their log-probability divided by the length penalty of their length,
    so finished and open hypotheses compete fairly. A finished hypothesis (one that produced
    ``</s>``) stays in its beam with its score frozen, extended by ``<pad>`` at no cost; a sentence
    stops when all its hypotheses are finished, and at its length limit ``</s>`` is forced.
    Beam size 1 is greedy decoding.

    Args:
        model: the translation network.
        source: source ids (B, S) long, padded with ``<pad>``.
        source_lengths: source tokens per sentence (B,) long.
        beam_size: beams per sentence K, >= 1.
        alpha: GNMT length penalty exponent (0: rank by log-probability alone).
        max_length_ratio: see :func:`max_output_lengths`.
        max_length_offset: see :func:`max_output_lengths`.
        return_attention: also return the attention weights of every output token.

    Returns:
        K hypotheses per sentence, best first.
    """
    batch, device = source.size(0), source.device
    k = beam_size
    encoded, state = model.encode(source, source_lengths)
    rows = torch.arange(batch, device=device).repeat_interleave(k)
    encoded, state = encoded.select(rows), state.select(rows)
    limits = max_output_lengths(source_lengths, max_length_ratio, max_length_offset)
    limits = limits.repeat_interleave(k)  # (B*K,)

    # Only the first beam of each sentence is alive at the start, so the K beams differ.
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    scores = scores.view(-1)
    lengths = torch.zeros(batch * k, dtype=torch.long, device=device)
    finished = torch.zeros(batch * k, dtype=torch.bool, device=device)
    previous = torch.full((batch * k,), BOS_ID, dtype=torch.long, device=device)
    history: list[torch.Tensor] = []
    attention_history: list[torch.Tensor] = []
    offsets = (torch.arange(batch, device=device) * k).unsqueeze(1)  # (B, 1)

    for step in range(int(limits.max())):
        vector, state, weights = model.decoder.step(previous, state, encoded)
        log_probs = torch.log_softmax(model.decoder.logits(vector).float(), dim=-1)  # (B*K, V)
        vocab = log_probs.size(1)
        at_limit = step + 1 >= limits
        forced = torch.full_like(log_probs, float("-inf"))
        forced[:, EOS_ID] = log_probs[:, EOS_ID]  # </s> at its own cost
        log_probs = torch.where(at_limit.unsqueeze(1), forced, log_probs)
        # finished hypotheses continue with <pad> only, at no cost
        done = torch.full_like(log_probs, float("-inf"))
        done[:, PAD_ID] = 0.0
        log_probs = torch.where(finished.unsqueeze(1), done, log_probs)

        candidate_scores = scores.unsqueeze(1) + log_probs  # (B*K, V)
        candidate_lengths = lengths + (~finished).long()
        ranking = candidate_scores / length_penalty(candidate_lengths, alpha).unsqueeze(1)
        _, best = ranking.view(batch, k * vocab).topk(k, dim=1)  # (B, K)
        origin = (best // vocab + offsets).view(-1)  # rows of B*K the survivors extend
        tokens = (best % vocab).view(-1)

        scores = candidate_scores.view(-1)[origin * vocab + tokens]
        lengths = candidate_lengths.index_select(0, origin)
        was_finished = finished.index_select(0, origin)
        finished = was_finished | tokens.eq(EOS_ID)
        history = [h.index_select(0, origin) for h in history] + [tokens]
        if return_attention:
            attention_history = [a.index_select(0, origin) for a in attention_history]
            step_weights = weights.index_select(0, origin)
            attention_history.append(step_weights.masked_fill(was_finished.unsqueeze(1), 0.0))
        state = state.select(origin)
        previous = tokens
        if bool(finished.all()):
            break

    final = (scores / length_penalty(lengths, alpha)).view(batch, k)
    final, order = final.sort(dim=1, descending=True)
    pick = (order + offsets).view(-1)
    tokens = torch.stack(history, dim=1).index_select(0, pick).view(batch, k, -1)
    attention = None
    if return_attention:
        attention = torch.stack(attention_history, dim=1).index_select(0, pick)
        attention = attention.view(batch, k, tokens.size(2), -1)
    return Hypotheses(tokens, final, attention)


@torch.no_grad()
def greedy_search(
    model: Seq2Seq,
    source: torch.Tensor,
    source_lengths: torch.Tensor,
    max_length_ratio: float = 1.5,
    max_length_offset: int = 10,
    return_attention: bool = False,
) -> Hypotheses:
    """The most probable next token at every step; scores are summed log-probabilities.

    Args:
        model: the translation network.
        source: source ids (B, S) long, padded with ``<pad>``.
        source_lengths: source tokens per sentence (B,) long.
        max_length_ratio: see :func:`max_output_lengths`.
        max_length_offset: see :func:`max_output_lengths`.
        return_attention: also return the attention weights of every output token.

    Returns:
        One hypothesis per sentence (K = 1).
    """
    encoded, state = model.encode(source, source_lengths)
    limits = max_output_lengths(source_lengths, max_length_ratio, max_length_offset)
    previous = torch.full_like(source_lengths, BOS_ID)
    finished = torch.zeros_like(source_lengths, dtype=torch.bool)
    scores = torch.zeros(source.size(0), device=source.device)
    tokens, attention = [], []
    for step in range(int(limits.max())):
        vector, state, weights = model.decoder.step(previous, state, encoded)
        log_probs = torch.log_softmax(model.decoder.logits(vector).float(), dim=-1)
        best_score, best = log_probs.max(dim=-1)
        at_limit = (step + 1 >= limits) & ~finished
        best = torch.where(at_limit, torch.full_like(best, EOS_ID), best)
        best_score = torch.where(at_limit, log_probs[:, EOS_ID], best_score)
        best = best.masked_fill(finished, PAD_ID)
        scores = scores + best_score.masked_fill(finished, 0.0)
        tokens.append(best)
        attention.append(weights.masked_fill(finished.unsqueeze(1), 0.0))
        finished = finished | best.eq(EOS_ID)
        previous = best
        if bool(finished.all()):
            break
    return Hypotheses(
        torch.stack(tokens, dim=1).unsqueeze(1),
        scores.unsqueeze(1),
        torch.stack(attention, dim=1).unsqueeze(1) if return_attention else None,
    )


def strip_special(tokens: list[int]) -> list[int]:
    """Token ids up to the first ``</s>``, without ``<pad>``/``<s>``.

    Args:
        tokens: one hypothesis's target ids.

    Returns:
        The ids before the first ``</s>``, without specials.
    """
    out = []
    for token in tokens:
        if token == EOS_ID:
            break
        if token not in (PAD_ID, BOS_ID):
            out.append(token)
    return out


class Search:
    """How a translation is searched for: greedy for beam size 1, else beam search.

    A plain object (no parameters) that the translation task and the translation predictor share.

    Args:
        beam_size: beams per sentence K at test and predict time, >= 1 (1 = greedy search).
        length_penalty: GNMT length penalty exponent alpha, >= 0 (0 = none); beam search only.
        max_length_ratio: outputs are at most ``ceil(ratio * source length) + offset`` tokens,
            ``</s>`` included.
        max_length_offset: the ``offset`` of ``max_length_ratio``, in tokens.
    """

    def __init__(
        self,
        beam_size: int = 5,
        length_penalty: float = 1.0,
        max_length_ratio: float = 1.5,
        max_length_offset: int = 10,
    ) -> None:
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.max_length_ratio = max_length_ratio
        self.max_length_offset = max_length_offset

    def __call__(
        self,
        model: Seq2Seq,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        beam_size: int | None = None,
        return_attention: bool = False,
    ) -> Hypotheses:
        """Search translations of a batch of sources.

        Args:
            model: the translation network.
            source: source ids (B, S) long, padded with ``<pad>``.
            source_lengths: source tokens per sentence (B,) long.
            beam_size: overrides the configured beam size when given.
            return_attention: also return the attention weights of every output token.

        Returns:
            K hypotheses per sentence, best first.
        """
        beam_size = self.beam_size if beam_size is None else beam_size
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        limits = dict(
            max_length_ratio=self.max_length_ratio,
            max_length_offset=self.max_length_offset,
            return_attention=return_attention,
        )
        if beam_size == 1:
            return greedy_search(model, source, source_lengths, **limits)
        return beam_search(
            model, source, source_lengths, beam_size, alpha=self.length_penalty, **limits
        )

    def best(
        self, model: Seq2Seq, source: torch.Tensor, source_lengths: torch.Tensor, beam_size=None
    ) -> list[list[int]]:
        """The best hypothesis of each sentence as target ids without specials.

        Args:
            model: the translation network.
            source: source ids (B, S) long, padded with ``<pad>``.
            source_lengths: source tokens per sentence (B,) long.
            beam_size: overrides the configured beam size when given.

        Returns:
            One list of target ids per sentence.
        """
        hypotheses = self(model, source, source_lengths, beam_size)
        return [strip_special(row) for row in hypotheses.tokens[:, 0].tolist()]

    def best_with_attention(
        self, model: Seq2Seq, source: torch.Tensor, source_lengths: torch.Tensor, beam_size=None
    ) -> list[tuple[list[int], torch.Tensor]]:
        """The best hypothesis of each sentence with its attention weights.

        Args:
            model: the translation network.
            source: source ids (B, S) long, padded with ``<pad>``.
            source_lengths: source tokens per sentence (B,) long.
            beam_size: overrides the configured beam size when given.

        Returns:
            For each sentence, its target ids up to and including ``</s>`` (T' of them) and their
            attention weights (T', S'), one row per output token and one column per source token
            of that sentence (S' = its length).
        """
        hypotheses = self(model, source, source_lengths, beam_size, return_attention=True)
        results = []
        for tokens, weights, length in zip(
            hypotheses.tokens[:, 0].tolist(), hypotheses.attention[:, 0], source_lengths.tolist()
        ):
            kept = [t for t in tokens if t != PAD_ID]
            results.append((kept, weights[: len(kept), :length]))
        return results
