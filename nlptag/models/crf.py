"""Linear-chain conditional random field (Lafferty et al. 2001) and a tagging head built on it.

Shapes: ``B`` batch, ``T`` time, ``H`` feature size, ``C`` number of tags, ``K`` paths. Masks are
(B, T) bool with left-aligned sentences of length >= 1. A path's score is
``start[y_0] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_last]``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from nlptag.models.heads import TaggingHead, TagPrediction
from nlptag.text.schemes import allowed_transitions

FORBIDDEN = -10000.0  # score of a disallowed start, transition or end


class CRF(nn.Module):
    """Learnable start (C,), transition [from, to] (C, C) and end (C,) scores over emissions.

    The ``allowed_*`` bool masks are hard constraints: disallowed scores are fixed at
    ``FORBIDDEN``, so no decoding uses them while an allowed path exists.
    """

    def __init__(
        self,
        num_tags: int,
        allowed_start: torch.Tensor | None = None,
        allowed_transitions: torch.Tensor | None = None,
        allowed_end: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.num_tags = num_tags
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        self.register_buffer("allowed_start", _mask(allowed_start, num_tags))
        self.register_buffer("allowed_transitions", _mask(allowed_transitions, num_tags, num_tags))
        self.register_buffer("allowed_end", _mask(allowed_end, num_tags))

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Start (C,), transition (C, C) and end (C,) scores; disallowed ones are FORBIDDEN."""
        return (
            self.start.masked_fill(~self.allowed_start, FORBIDDEN),
            self.transitions.masked_fill(~self.allowed_transitions, FORBIDDEN),
            self.end.masked_fill(~self.allowed_end, FORBIDDEN),
        )

    def _alphas(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Forward log scores (B, T, C) of all prefixes ending in each tag; carried over padding."""
        start, trans, _ = self.scores()
        alpha = start + emissions[:, 0]
        alphas = [alpha]
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)
            alphas.append(alpha)
        return torch.stack(alphas, dim=1)

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z (B,): log-sum-exp of all path scores. emissions (B, T, C), mask (B, T)."""
        return torch.logsumexp(self._alphas(emissions, mask)[:, -1] + self.scores()[2], dim=1)

    def path_score(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Score (B,) of the given tags (B, T) long; tags outside the mask are ignored."""
        start, trans, end = self.scores()
        tags = tags.masked_fill(~mask, 0)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2).masked_fill(~mask, 0.0)
        moved = trans[tags[:, :-1], tags[:, 1:]].masked_fill(~mask[:, 1:], 0.0)
        last = tags.gather(1, mask.sum(1, keepdim=True) - 1).squeeze(1)
        return start[tags[:, 0]] + emitted.sum(1) + moved.sum(1) + end[last]

    def neg_log_likelihood(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """-log p(tags | emissions) (B,) = log Z - path score."""
        return self.log_partition(emissions, mask) - self.path_score(emissions, tags, mask)

    def viterbi(
        self, emissions: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Best path, the 1-best of :meth:`kbest`: tags (B, T) long, 0 on padding; scores (B,)."""
        tags, scores = self.kbest(emissions, mask, k=1)
        return tags[:, 0], scores[:, 0]

    def kbest(
        self, emissions: torch.Tensor, mask: torch.Tensor, k: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The k best paths: tags (B, K, T) long and scores (B, K), best first.

        Where a sentence has fewer than k paths, the missing ones score ``-inf`` and hold tags 0.
        """
        start, trans, end = self.scores()
        batch, length, num_tags = emissions.shape
        # score[b, c, r]: the r-th best prefix ending in tag c. A pointer at step t holds, for each
        # (c, r), the predecessor at t - 1 flattened as tag * k + rank; padding points to itself.
        score = torch.full(
            (batch, num_tags, k), float("-inf"), dtype=emissions.dtype, device=emissions.device
        )
        score[:, :, 0] = start + emissions[:, 0]
        stay = torch.arange(num_tags * k, device=emissions.device).view(1, num_tags, k)
        pointers = []
        for t in range(1, length):
            candidates = (score.unsqueeze(3) + trans.unsqueeze(1)).flatten(1, 2)  # (B, C*K, C)
            best, pointer = candidates.topk(k, dim=1)  # (B, K, C)
            step = best.transpose(1, 2) + emissions[:, t].unsqueeze(2)
            keep = mask[:, t, None, None]
            score = torch.where(keep, step, score)
            pointers.append(torch.where(keep, pointer.transpose(1, 2), stay))
        final, flat = (score + end.unsqueeze(1)).flatten(1).topk(k, dim=1)  # (B, K)
        path = [flat]
        for pointer in reversed(pointers):
            flat = pointer.flatten(1).gather(1, flat)
            path.append(flat)
        tags = torch.stack(path[::-1], dim=2) // k  # (B, K, T)
        tags = tags.masked_fill(~mask.unsqueeze(1) | final.isinf().unsqueeze(2), 0)
        return tags, final

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Posterior p(y_t = c | emissions) (B, T, C) by forward-backward; padding rows are 0."""
        _, trans, end = self.scores()
        alphas = self._alphas(emissions, mask)
        beta = end.expand_as(emissions[:, 0])
        betas = [beta]
        for t in range(emissions.shape[1] - 1, 0, -1):
            step = torch.logsumexp(trans + (emissions[:, t] + beta).unsqueeze(1), dim=2)
            beta = torch.where(mask[:, t, None], step, end)
            betas.append(beta)
        betas = torch.stack(betas[::-1], dim=1)
        log_z = torch.logsumexp(alphas[:, -1] + end, dim=1)
        probs = torch.exp(alphas + betas - log_z[:, None, None])
        return probs.masked_fill(~mask.unsqueeze(2), 0.0)


def _mask(allowed: torch.Tensor | None, *shape: int) -> torch.Tensor:
    """A bool copy of ``allowed``, all True when it is None."""
    if allowed is None:
        return torch.ones(shape, dtype=torch.bool)
    if allowed.shape != shape:
        raise ValueError(f"constraint mask of shape {tuple(allowed.shape)}, expected {shape}")
    return allowed.clone().bool()


class CRFHead(TaggingHead):
    """Linear projection to tag scores (B, T, C) followed by a CRF; optional scheme constraints.

    With ``scheme`` set, the CRF may only produce tag sequences well formed in that scheme
    (see :func:`nlptag.text.schemes.allowed_transitions`).
    """

    def __init__(
        self,
        input_size: int,
        tag_names: list[str],
        scheme: Literal["iob1", "iob2", "iobes"] | None = None,
    ) -> None:
        super().__init__()
        self.tag_names = list(tag_names)
        self.scheme = scheme
        self.projection = nn.Linear(input_size, len(tag_names))
        constraints = allowed_transitions(tag_names, scheme) if scheme else (None, None, None)
        self.crf = CRF(len(tag_names), *constraints)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Emission scores (B, T, C) from features (B, T, H), in float32 even under bf16/fp16
        autocast: the forward algorithm's log-sum-exps need the precision."""
        return self.projection(features).float()

    def loss(self, features: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per sentence (scalar)."""
        return self.crf.neg_log_likelihood(self(features), tags, mask).mean()

    def decode_scores(self, scores: torch.Tensor, mask: torch.Tensor) -> TagPrediction:
        """Viterbi tags (B, T) and the posterior marginal probability (B, T) of each chosen tag,
        from the emission scores (B, T, C)."""
        emissions = scores.float()
        tags, _ = self.crf.viterbi(emissions, mask)
        confidences = self.crf.marginals(emissions, mask).gather(2, tags.unsqueeze(2)).squeeze(2)
        return TagPrediction(tags=tags, confidences=confidences)

    def kbest(
        self, features: torch.Tensor, mask: torch.Tensor, k: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The k best tag paths (B, K, T) and their scores (B, K), best first."""
        return self.crf.kbest(self(features), mask, k)
