"""Linear-chain conditional random field (Lafferty et al. 2001) and a tagging head built on it.

Shape letters as in :mod:`nlptag.models` (``K``: the paths of k-best decoding). Masks are
(B, T) bool with left-aligned sentences of length >= 1. A path's score is
``start[y_0] + sum_t emissions[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_last]``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from nlptag.models.heads import TaggingHead, TagPrediction
from nlptag.text.schemes import allowed_transitions

FORBIDDEN = -10000.0  # score of a disallowed start, transition or end
NEGLIGIBLE = -80.0
"""Log-sum-exp terms more than this below the largest count as this: e^-80 < 2e-35 of the
largest term, far below float32's and float64's resolution."""


def logsumexp(scores: torch.Tensor, dim: int) -> torch.Tensor:
    """``torch.logsumexp`` of finite scores, equal to it to the float's resolution, but fast.

    On the CPU, exp of a number far below 0 (a ``FORBIDDEN`` score minus the largest) is several
    times slower than of a moderate one, and a constrained CRF has many. Terms more than 80 below
    the largest are raised to ``NEGLIGIBLE`` before the exp; their gradient, below 2e-35,
    becomes 0.

    Args:
        scores: any shape, finite.
        dim: the dimension summed over.

    Returns:
        ``log(sum(exp(scores), dim))``, ``scores``' shape without ``dim``.
    """
    top = scores.amax(dim=dim, keepdim=True).detach()
    return (scores - top).clamp(min=NEGLIGIBLE).exp().sum(dim).log() + top.squeeze(dim)


class CRF(nn.Module):
    """Learnable start (C,), transition [from, to] (C, C) and end (C,) scores over emissions.

    The ``allowed_*`` bool masks are hard constraints: disallowed scores are fixed at
    ``FORBIDDEN``, so no decoding uses them while an allowed path exists. All scores start at 0.

    Args:
        num_tags: number of tags C.
        allowed_start: (C,) bool, True where a sentence may start with that tag; None (the
            default) allows every tag.
        allowed_transitions: (C, C) bool indexed [from, to], True where the tag ``to`` may
            follow the tag ``from``; None (the default) allows every transition.
        allowed_end: (C,) bool, True where a sentence may end with that tag; None (the default)
            allows every tag.
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
        """The scores with the constraints applied.

        Returns:
            Start (C,), transition [from, to] (C, C) and end (C,) scores; disallowed ones are
            ``FORBIDDEN``.
        """
        return (
            self.start.masked_fill(~self.allowed_start, FORBIDDEN),
            self.transitions.masked_fill(~self.allowed_transitions, FORBIDDEN),
            self.end.masked_fill(~self.allowed_end, FORBIDDEN),
        )

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log partition function: the log-sum-exp of all path scores.

        Computed by :class:`ScaledForward` (probabilities, a (B, C) x (C, C) product per step,
        and a hand-written backward); where its scales leave float64's safe range it is
        recomputed by :meth:`log_space_partition`, the same quantity in log space.

        Args:
            emissions: tag scores (B, T, C).
            mask: (B, T) bool, True at real words.

        Returns:
            log Z (B,).
        """
        start, trans, end = self.scores()
        log_z = ScaledForward.apply(emissions, start, trans, end, mask)
        if bool(torch.isfinite(log_z).all()):
            return log_z
        return self.log_space_partition(emissions, mask)

    def log_space_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log Z (B,) by the forward algorithm in log space, differentiated by autograd.

        Slower than :meth:`log_partition`'s recursion (about a dozen operators per step in each
        direction) but safe for any finite scores. Arguments as in :meth:`log_partition`.
        """
        start, trans, end = self.scores()
        alpha = start + emissions[:, 0]
        for t in range(1, emissions.shape[1]):
            step = logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)
        return logsumexp(alpha + end, dim=1)

    def path_score(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Score of the given tag paths.

        Args:
            emissions: tag scores (B, T, C).
            tags: tag ids (B, T) long; tags outside the mask are ignored.
            mask: (B, T) bool, True at real words.

        Returns:
            Path scores (B,).
        """
        start, trans, end = self.scores()
        tags = tags.masked_fill(~mask, 0)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2).masked_fill(~mask, 0.0)
        moved = trans[tags[:, :-1], tags[:, 1:]].masked_fill(~mask[:, 1:], 0.0)
        last = tags.gather(1, mask.sum(1, keepdim=True) - 1).squeeze(1)
        return start[tags[:, 0]] + emitted.sum(1) + moved.sum(1) + end[last]

    def neg_log_likelihood(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Negative log-likelihood ``-log p(tags | emissions) = log Z - path score``.

        Args:
            emissions: tag scores (B, T, C).
            tags: gold tag ids (B, T) long; tags outside the mask are ignored.
            mask: (B, T) bool, True at real words.

        Returns:
            The negative log-likelihood of each sentence (B,).
        """
        return self.log_partition(emissions, mask) - self.path_score(emissions, tags, mask)

    def viterbi(
        self, emissions: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Best path, the 1-best of :meth:`kbest`.

        Args:
            emissions: tag scores (B, T, C).
            mask: (B, T) bool, True at real words.

        Returns:
            Tags (B, T) long, 0 on padding, and their path scores (B,).
        """
        tags, scores = self.kbest(emissions, mask, k=1)
        return tags[:, 0], scores[:, 0]

    def kbest(
        self, emissions: torch.Tensor, mask: torch.Tensor, k: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The k best paths, best first.

        Where a sentence has fewer than k paths, the missing ones score ``-inf`` and hold tags 0.

        Args:
            emissions: tag scores (B, T, C).
            mask: (B, T) bool, True at real words.
            k: number of paths K, >= 1.

        Returns:
            Tags (B, K, T) long, 0 on padding, and path scores (B, K).
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
            best, pointer = _top(candidates, k)  # (B, K, C)
            step = best.transpose(1, 2) + emissions[:, t].unsqueeze(2)
            keep = mask[:, t, None, None]
            score = torch.where(keep, step, score)
            pointers.append(torch.where(keep, pointer.transpose(1, 2), stay))
        final, flat = _top((score + end.unsqueeze(1)).flatten(1), k)  # (B, K)
        path = [flat]
        for pointer in reversed(pointers):
            flat = pointer.flatten(1).gather(1, flat)
            path.append(flat)
        tags = torch.stack(path[::-1], dim=2) // k  # (B, K, T)
        tags = tags.masked_fill(~mask.unsqueeze(1) | final.isinf().unsqueeze(2), 0)
        return tags, final

    @torch.no_grad()
    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Posterior tag probabilities ``p(y_t = c | emissions)`` by forward-backward.

        The scaled forward-backward of hidden Markov models, in float64: the recursions run on
        probabilities, each step normalised to sum 1 (the scales cancel in the posterior), so a
        step is a (B, C) x (C, C) product instead of a log-sum-exp over (B, C, C)
        (``benchmarks/results/crf_marginals_scaled.md`` times both). Emissions enter relative to
        each word's largest, so nothing overflows, and a tag whose probability is below float64's
        range (e^-708 of the best) gets 0. Not differentiated (decoding only).

        Args:
            emissions: tag scores (B, T, C).
            mask: (B, T) bool, True at real words.

        Returns:
            Marginals (B, T, C) in the emissions' dtype; each real position sums to 1 over the
            tags, padding rows are 0.
        """
        start, trans, end = (score.double() for score in self.scores())
        emitted = emissions.double()
        emitted = (emitted - emitted.amax(dim=2, keepdim=True)).exp()  # (B, T, C), max 1
        moves = (trans - trans.amax()).exp()  # (C, C) [from, to]
        last = (end - end.amax()).exp().expand_as(emitted[:, 0])

        def normalised(values: torch.Tensor) -> torch.Tensor:
            return values / values.sum(dim=1, keepdim=True)

        alpha = normalised((start - start.amax()).exp() * emitted[:, 0])
        alphas = [alpha]
        for t in range(1, emitted.shape[1]):
            step = normalised((alpha @ moves) * emitted[:, t])
            alpha = torch.where(mask[:, t, None], step, alpha)
            alphas.append(alpha)
        beta, betas = last, [last]
        for t in range(emitted.shape[1] - 1, 0, -1):
            step = normalised((emitted[:, t] * beta) @ moves.T)
            beta = torch.where(mask[:, t, None], step, last)
            betas.append(beta)
        posterior = torch.stack(alphas, dim=1) * torch.stack(betas[::-1], dim=1)
        posterior = posterior / posterior.sum(dim=2, keepdim=True)
        return posterior.masked_fill(~mask.unsqueeze(2), 0.0).to(emissions.dtype)


SMALLEST_SCALE = 1e-200
"""A scaled forward step whose total falls below this is outside :class:`ScaledForward`'s
safe range: terms float64 flushes to 0 (below 1e-308) would then be more than 1e-108 of it."""


class ScaledForward(torch.autograd.Function):
    """log Z of a linear-chain CRF by the scaled forward algorithm, with its exact gradient.

    The recursion of hidden Markov models on probabilities, in float64: ``alpha_t`` (B, C) is
    ``(alpha_{t-1} @ exp(transitions)) * exp(emissions_t)`` divided by its sum ``c_t``, and
    ``log Z`` adds up the ``log c_t`` and the shifts that keep every exp at most 1. The
    backward pass does not replay the forward through autograd: the gradient of log Z is the
    posterior expectation of each score, so it runs the scaled backward recursion once and
    reads the tag marginals (for the emissions, start and end) and the summed pair marginals
    (for the transitions) from ``alpha`` and ``beta``. A step costs a handful of operators in
    each direction where the log-space recursion with autograd costs about two dozen.

    Where a step's total ``c_t`` falls below :data:`SMALLEST_SCALE` (transition or emission
    gaps of hundreds of nats between the reachable tags and the best), log Z is returned as
    NaN for that sentence, so :meth:`CRF.log_partition` can recompute it in log space.

    ``apply(emissions (B, T, C), start (C,), transitions (C, C) [from, to], end (C,),
    mask (B, T) bool)`` -> log Z (B,) in the emissions' dtype.
    """

    @staticmethod
    def forward(
        ctx: Any,
        emissions: torch.Tensor,
        start: torch.Tensor,
        trans: torch.Tensor,
        end: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """Log Z (B,), NaN where a scale left the safe range; see the class docstring."""
        ctx.dtypes = (emissions.dtype, start.dtype, trans.dtype, end.dtype)
        scores = emissions.detach().double()
        top = scores.amax(dim=2, keepdim=True)  # (B, T, 1)
        emitted = (scores - top).exp()  # (B, T, C), max 1 per word
        start, trans, end = (score.detach().double() for score in (start, trans, end))
        start_top, trans_top, end_top = start.amax(), trans.amax(), end.amax()
        moves = (trans - trans_top).exp()  # (C, C) [from, to]
        last = (end - end_top).exp()  # (C,)
        words, real = emitted.unbind(1), mask.unsqueeze(2).unbind(1)  # T of (B, C), (B, 1)
        alpha = (start - start_top).exp() * words[0]
        total = alpha.sum(dim=1, keepdim=True)
        alpha = alpha / total
        alphas, totals = [alpha], [total]
        for t in range(1, len(words)):
            step = torch.mm(alpha, moves).mul_(words[t])
            total = step.sum(dim=1, keepdim=True)
            alpha = torch.where(real[t], step.div_(total), alpha)
            alphas.append(alpha)
            totals.append(total)
        alphas = torch.stack(alphas, dim=1)  # (B, T, C)
        totals = torch.cat(totals, dim=1).masked_fill(~mask, 1.0)  # (B, T); 1 on padding
        final = alpha @ last  # (B,)
        lengths = mask.sum(dim=1)
        shifts = top.squeeze(2).masked_fill(~mask, 0.0).sum(dim=1) + trans_top * (lengths - 1)
        log_z = start_top + shifts + totals.log().sum(dim=1) + end_top + final.log()
        safe = (totals.amin(dim=1) >= SMALLEST_SCALE) & (final >= SMALLEST_SCALE)
        ctx.save_for_backward(emitted, moves, last, alphas, totals, final, mask)
        return log_z.masked_fill(~safe, float("nan")).to(emissions.dtype)

    @staticmethod
    def backward(ctx: Any, grad_log_z: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """Gradients for (emissions, start, transitions, end, mask): posterior expectations."""
        emitted, moves, last, alphas, totals, final, mask = ctx.saved_tensors
        weight = grad_log_z.double()[:, None, None]  # (B, 1, 1)
        # betas[:, t] scaled so that alphas[:, t] * betas[:, t] is each tag's posterior.
        words, real = emitted.unbind(1), mask.unsqueeze(2).unbind(1)
        scales, moves_back = totals.unsqueeze(2).unbind(1), moves.T
        beta = (last / final[:, None]).expand_as(words[0])
        betas = [beta]
        for t in range(len(words) - 1, 0, -1):
            step = torch.mm(words[t] * beta, moves_back).div_(scales[t])
            beta = torch.where(real[t], step, beta)
            betas.append(beta)
        betas = torch.stack(betas[::-1], dim=1)  # (B, T, C)
        posterior = alphas * betas * (mask.unsqueeze(2) * weight)  # (B, T, C)
        # Pair marginals summed over words: alpha_{t-1}[i] moves[i, j] emitted_t[j] beta_t[j] / c_t.
        onward = emitted[:, 1:] * betas[:, 1:] / totals[:, 1:, None] * (mask[:, 1:, None] * weight)
        pairs = (alphas[:, :-1].flatten(0, 1).T @ onward.flatten(0, 1)) * moves  # (C, C)
        rows = torch.arange(mask.shape[0], device=mask.device)
        ends = alphas[rows, mask.sum(dim=1) - 1] * last / final[:, None] * weight[:, 0]  # (B, C)
        emissions_dtype, start_dtype, trans_dtype, end_dtype = ctx.dtypes
        return (
            posterior.to(emissions_dtype),
            posterior[:, 0].sum(dim=0).to(start_dtype),
            pairs.to(trans_dtype),
            ends.sum(dim=0).to(end_dtype),
            None,
        )


def _top(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest scores along dim 1, largest first, and their indices.

    For k = 1 (Viterbi) this is ``max``, which of equal scores picks the first, and on the CPU
    is faster than ``topk`` (Viterbi decoding 1.01-2.39 times as fast,
    ``benchmarks/results/crf_viterbi_max.md``).

    Args:
        scores: (B, C, ...).
        k: how many, K <= C.

    Returns:
        Values and indices (B, K, ...).
    """
    if k == 1:
        return scores.max(dim=1, keepdim=True)
    return scores.topk(k, dim=1)


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

    Args:
        input_size: encoder output size F (given by the tagger network).
        tag_names: the tags, in id order (given by the tagger network); C = len(tag_names).
        scheme: the tagging scheme the tag names follow, ``iob1``, ``iob2`` or ``iobes``, to
            forbid ill-formed sequences; None (the default) leaves the CRF unconstrained.
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
        """Emission scores, in float32 even under bf16/fp16 autocast.

        The forward algorithm's log-sum-exps need the precision.

        Args:
            features: encoder outputs (B, T, F).

        Returns:
            Emissions (B, T, C) float32.
        """
        return self.projection(features).float()

    def loss(self, features: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per sentence.

        Args:
            features: encoder outputs (B, T, F).
            tags: gold tag ids (B, T) long.
            mask: (B, T) bool, True at real words.

        Returns:
            The loss, a scalar.
        """
        return self.crf.neg_log_likelihood(self(features), tags, mask).mean()

    def decode_scores(self, scores: torch.Tensor, mask: torch.Tensor) -> TagPrediction:
        """Viterbi tags and the posterior marginal probability of each chosen tag.

        Args:
            scores: emissions (B, T, C), as returned by ``forward``.
            mask: (B, T) bool, True at real words.

        Returns:
            Tags (B, T) and confidences (B, T); both 0 outside the mask.
        """
        emissions = scores.float()
        tags, _ = self.crf.viterbi(emissions, mask)
        confidences = self.crf.marginals(emissions, mask).gather(2, tags.unsqueeze(2)).squeeze(2)
        return TagPrediction(tags=tags, confidences=confidences)

    def kbest(
        self, features: torch.Tensor, mask: torch.Tensor, k: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The k best tag paths, best first (see :meth:`CRF.kbest`).

        Args:
            features: encoder outputs (B, T, F).
            mask: (B, T) bool, True at real words.
            k: number of paths K, >= 1.

        Returns:
            Tags (B, K, T) long and path scores (B, K).
        """
        return self.crf.kbest(self(features), mask, k)
