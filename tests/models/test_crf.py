import itertools

import pytest
import torch

from nlptag.models.crf import CRF, FORBIDDEN, NEGLIGIBLE, CRFHead, ScaledForward, logsumexp
from nlptag.text.schemes import allowed_transitions

C = 3
LENGTHS = [4, 1, 3, 2]  # one batch, every length up to T = 4


def random_crf(seed: int = 0, constrained: bool = False) -> CRF:
    torch.manual_seed(seed)
    constraints = (None, None, None)
    if constrained:  # tag 2 cannot start, 0 -> 1 and 2 -> 2 are forbidden, tag 0 cannot end
        constraints = (
            torch.tensor([True, True, False]),
            torch.tensor([[True, False, True], [True, True, True], [True, True, False]]),
            torch.tensor([False, True, True]),
        )
    crf = CRF(C, *constraints).double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Emissions (B, T, C) double and a left-aligned mask (B, T) for LENGTHS."""
    gen = torch.Generator().manual_seed(seed)
    emissions = torch.randn(len(LENGTHS), max(LENGTHS), C, generator=gen, dtype=torch.double)
    mask = torch.arange(max(LENGTHS)) < torch.tensor(LENGTHS)[:, None]
    return emissions, mask


def brute_force(crf: CRF, emissions: torch.Tensor, length: int) -> list[tuple[float, tuple]]:
    """All (score, path) of one sentence (T, C), best first, scored term by term."""
    start, trans, end = crf.scores()
    paths = []
    for path in itertools.product(range(C), repeat=length):
        score = start[path[0]] + end[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
        score = score + sum(trans[a, b] for a, b in itertools.pairwise(path))
        paths.append((float(score), path))
    return sorted(paths, reverse=True)


def brute_force_marginals(crf: CRF, emissions: torch.Tensor, length: int) -> torch.Tensor:
    """p(y_t = c) (T, C) double by summing the probabilities of every path."""
    expected = torch.zeros(emissions.size(0), C, dtype=torch.double)
    paths = brute_force(crf, emissions, length)
    log_z = torch.logsumexp(torch.tensor([s for s, _ in paths], dtype=torch.double), 0)
    for score, path in paths:
        for t, y in enumerate(path):
            expected[t, y] += torch.exp(score - log_z)
    return expected


@pytest.mark.parametrize("constrained", [False, True])
def test_log_partition_and_path_score_match_brute_force(constrained: bool) -> None:
    crf, (emissions, mask) = random_crf(constrained=constrained), batch()
    log_z = crf.log_partition(emissions, mask)
    tags = torch.tensor([[0, 2, 1, 1], [2, 0, 0, 0], [1, 0, 2, 0], [0, 0, 1, 2]])
    scores = crf.path_score(emissions, tags, mask)
    for b, length in enumerate(LENGTHS):
        paths = dict((p, s) for s, p in brute_force(crf, emissions[b], length))
        expected = torch.logsumexp(torch.tensor(list(paths.values()), dtype=torch.double), 0)
        torch.testing.assert_close(log_z[b], expected)
        torch.testing.assert_close(scores[b].item(), paths[tuple(tags[b, :length].tolist())])
    nll = crf.neg_log_likelihood(emissions, tags, mask)
    torch.testing.assert_close(nll, log_z - scores)


def test_viterbi_and_kbest_match_brute_force() -> None:
    crf, (emissions, mask) = random_crf(), batch()
    tags, scores = crf.viterbi(emissions, mask)
    k_tags, k_scores = crf.kbest(emissions, mask, k=5)
    assert tags.dtype == k_tags.dtype == torch.long and k_tags.shape == (4, 5, 4)
    for b, length in enumerate(LENGTHS):
        paths = brute_force(crf, emissions[b], length)
        assert tags[b, :length].tolist() == list(paths[0][1]) and tags[b, length:].eq(0).all()
        torch.testing.assert_close(scores[b].item(), paths[0][0])
        for r in range(min(5, len(paths))):
            assert k_tags[b, r, :length].tolist() == list(paths[r][1])
            torch.testing.assert_close(k_scores[b, r].item(), paths[r][0])
    # a 1-token sentence has only C = 3 paths: the last two are padding
    assert k_scores[1, 3:].eq(float("-inf")).all() and k_tags[1, 3:].eq(0).all()
    assert torch.isfinite(k_scores[[0, 2, 3]]).all()


def test_viterbi_picks_a_best_path_among_equal_ones() -> None:
    """Equal scores everywhere: every path ties, and Viterbi's is the first of them (tag 0 at
    every step, the lowest index of ``max``); k-best still returns K distinct tied paths."""
    crf = CRF(C)
    with torch.no_grad():
        for p in crf.parameters():
            p.zero_()
    emissions, mask = torch.zeros(2, 4, C), torch.tensor([[True] * 4, [True, True, False, False]])
    tags, scores = crf.viterbi(emissions, mask)
    assert tags.tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]] and scores.tolist() == [0.0, 0.0]
    k_tags, k_scores = crf.kbest(emissions, mask, k=4)
    assert k_scores.eq(0).all()
    assert len({tuple(path) for path in k_tags[0].tolist()}) == 4
    # a larger tie: topk, which Viterbi used before, returned tag 10 here on the CPU, not 0
    wide = CRF(17)
    with torch.no_grad():
        for p in wide.parameters():
            p.zero_()
    tags, scores = wide.viterbi(torch.zeros(64, 6, 17), torch.ones(64, 6, dtype=torch.bool))
    assert tags.eq(0).all() and scores.eq(0).all()


def test_marginals_sum_to_one_and_match_brute_force() -> None:
    crf, (emissions, mask) = random_crf(), batch()
    marginals = crf.marginals(emissions, mask)
    for b, length in enumerate(LENGTHS):
        expected = brute_force_marginals(crf, emissions[b], length)
        torch.testing.assert_close(marginals[b], expected)
    torch.testing.assert_close(marginals.sum(2), mask.double())


def test_forbidden_transitions_never_decoded() -> None:
    crf = random_crf(constrained=True)  # forbids start 2, 0 -> 1, 2 -> 2, end 0
    with torch.no_grad():
        for p in crf.parameters():
            p.zero_()
    # unconstrained, the best paths would be 2 2 0 0 (score 20) and 2 2 0 (15)
    emissions = torch.tensor(
        [
            [[1, 0, 5], [0, 0, 5], [5, 0, 0], [5, 0, 0]],
            [[1, 0, 5], [0, 0, 5], [5, 0, 0], [0, 0, 99]],
        ],
        dtype=torch.double,
    )
    mask = torch.tensor([[True] * 4, [True, True, True, False]])
    tags, scores = crf.viterbi(emissions, mask)
    # best allowed: 0 2 0 2 = 1 + 5 + 5 + 0 and 0 2 1 = 1 + 5 + 0 (2 2 and 0 1 are forbidden)
    assert tags.tolist() == [[0, 2, 0, 2], [0, 2, 1, 0]]
    assert scores.tolist() == [11.0, 6.0]
    k_tags, k_scores = crf.kbest(emissions, mask, k=6)
    for b, length in enumerate([4, 3]):
        for path in k_tags[b, :, :length].tolist():
            assert path[0] != 2 and path[-1] != 0
            assert not {(0, 1), (2, 2)} & set(itertools.pairwise(path))
    assert (k_scores > -1000).all()


@pytest.mark.parametrize("constrained", [False, True])
def test_nll_gradients_match_finite_differences(constrained: bool) -> None:
    crf, (emissions, mask) = random_crf(constrained=constrained), batch()
    tags = torch.tensor([[0, 2, 1, 1], [2, 0, 0, 0], [1, 0, 2, 0], [0, 0, 1, 2]])

    wrapper = NLL(crf)

    def nll(emissions, start, transitions, end):
        params = {"crf.start": start, "crf.transitions": transitions, "crf.end": end}
        return torch.func.functional_call(wrapper, params, (emissions, tags, mask))

    inputs = (emissions, crf.start, crf.transitions, crf.end)
    assert torch.autograd.gradcheck(nll, tuple(x.detach().requires_grad_() for x in inputs))


class NLL(torch.nn.Module):
    """The CRF's neg_log_likelihood as forward, for torch.func.functional_call."""

    def __init__(self, crf: CRF) -> None:
        super().__init__()
        self.crf = crf

    def forward(self, emissions, tags, mask) -> torch.Tensor:
        return self.crf.neg_log_likelihood(emissions, tags, mask)


def test_padding_does_not_change_results() -> None:
    crf, (emissions, mask) = random_crf(constrained=True), batch()
    tags = torch.tensor([[0, 2, 1, 1], [2, 0, 0, 0], [1, 0, 2, 0], [0, 0, 1, 2]])
    garbage = emissions.masked_fill(~mask.unsqueeze(2), 1e3)  # padding content must not matter
    padded = {
        "log_z": crf.log_partition(garbage, mask),
        "nll": crf.neg_log_likelihood(garbage, tags.masked_fill(~mask, 2), mask),
        "viterbi": crf.viterbi(garbage, mask),
        "kbest": crf.kbest(garbage, mask, 3),
        "marginals": crf.marginals(garbage, mask),
    }
    for b, length in enumerate(LENGTHS):
        alone, full = emissions[b : b + 1, :length], torch.ones(1, length, dtype=torch.bool)
        torch.testing.assert_close(padded["log_z"][b], crf.log_partition(alone, full)[0])
        nll = crf.neg_log_likelihood(alone, tags[b : b + 1, :length], full)[0]
        torch.testing.assert_close(padded["nll"][b], nll)
        path, score = crf.viterbi(alone, full)
        assert padded["viterbi"][0][b, :length].tolist() == path[0].tolist()
        torch.testing.assert_close(padded["viterbi"][1][b], score[0])
        k_tags, k_scores = crf.kbest(alone, full, 3)
        assert padded["kbest"][0][b, :, :length].tolist() == k_tags[0].tolist()
        torch.testing.assert_close(padded["kbest"][1][b], k_scores[0])
        marginals = crf.marginals(alone, full)[0]
        torch.testing.assert_close(padded["marginals"][b, :length], marginals)
        assert padded["marginals"][b, length:].eq(0).all()


def test_crf_head_loss_decode_and_constraints() -> None:
    torch.manual_seed(0)
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    head = CRFHead(input_size=6, tag_names=names, scheme="iob2")
    start, trans, end = allowed_transitions(names, "iob2")
    assert head.crf.allowed_transitions.equal(trans) and head.crf.allowed_start.equal(start)
    assert list(head.parameters()) == [*head.projection.parameters(), *head.crf.parameters()]
    features = torch.randn(2, 3, 6)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    tags = torch.tensor([[1, 2, 0], [3, 4, 0]])
    loss = head.loss(features, tags, mask)
    expected = head.crf.neg_log_likelihood(head.projection(features), tags, mask).mean()
    torch.testing.assert_close(loss, expected)
    prediction = head.decode(features, mask)
    assert prediction.tags.equal(head.crf.viterbi(head.projection(features), mask)[0])
    marginals = head.crf.marginals(head.projection(features), mask)
    torch.testing.assert_close(
        prediction.confidences, marginals.gather(2, prediction.tags[..., None])[..., 0]
    )
    assert prediction.confidences[1, 2] == 0 and (prediction.confidences[mask] > 0).all()
    k_tags, k_scores = head.kbest(features, mask, 2)
    assert k_tags.shape == (2, 2, 3) and k_tags[:, 0].equal(prediction.tags)
    assert (k_scores[:, 0] >= k_scores[:, 1]).all()


def test_crf_head_learns_iob2_toy_task() -> None:
    """Word ids 1, 2 are names: 1 opens one, 2 continues it; 0 is outside. Constraints hold."""
    torch.manual_seed(0)
    head = CRFHead(input_size=3, tag_names=["O", "B-PER", "I-PER"], scheme="iob2")
    words = torch.randint(0, 3, (64, 6))
    tags = words.clone()
    tags[:, 0] = tags[:, 0].clamp(max=1)  # a sentence cannot open with I-PER
    tags[:, 1:][(words[:, 1:] == 2) & (tags[:, :-1] == 0)] = 1
    features = torch.nn.functional.one_hot(words, 3).float()
    mask = torch.ones_like(words, dtype=torch.bool)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.1)
    for _ in range(40):
        optimizer.zero_grad()
        head.loss(features, tags, mask).backward()
        optimizer.step()
    assert head.decode(features, mask).tags.equal(tags)


def test_constraint_mask_of_wrong_shape_raises() -> None:
    with pytest.raises(ValueError, match=r"shape \(2, 2\), expected \(3, 3\)"):
        CRF(3, allowed_transitions=torch.ones(2, 2, dtype=torch.bool))


@pytest.mark.parametrize("dim", [1, 2])
def test_logsumexp_equals_torch_with_forbidden_scores_and_its_gradient_is_the_softmax(dim):
    generator = torch.Generator().manual_seed(dim)
    scores = torch.randn(6, 5, 5, generator=generator, dtype=torch.float64) * 3
    scores[:, 1:3, 2:4] = FORBIDDEN  # disallowed transitions, 10,000 below the rest
    scores[0, :, :] = -100.0  # a row of equal scores far below 0
    scores[1, 0, 0] = scores[1, 0, 1] - 85.0  # just past NEGLIGIBLE from a neighbour
    scores.requires_grad_(True)
    ours = logsumexp(scores, dim)
    expected = torch.logsumexp(scores, dim)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-12)
    (gradient,) = torch.autograd.grad(ours.sum(), scores)
    softmax = torch.softmax(scores, dim)
    torch.testing.assert_close(gradient, softmax, rtol=0, atol=1e-15)
    # the terms raised to NEGLIGIBLE get no gradient; their softmax weight is below 2e-35
    raised = scores - scores.amax(dim, keepdim=True) < NEGLIGIBLE
    assert raised.sum() >= 20  # the forbidden block in 5 of the 6 matrices, and more
    assert gradient[raised].eq(0).all() and softmax[raised].max() < 2e-35
    single = scores.detach().float()
    torch.testing.assert_close(
        logsumexp(single, dim), torch.logsumexp(single, dim), rtol=2e-7, atol=0
    )


@pytest.mark.parametrize("constrained", [False, True])
def test_float32_marginals_of_large_scores_keep_float64_precision(constrained: bool) -> None:
    """The scaled recursions run in float64: float32 scores of magnitude ~50 (where float32
    log-space recursions drift by 1e-3) give the brute-force marginals to float32 rounding."""
    crf = random_crf(5, constrained)
    emissions, mask = batch(6)
    emissions = emissions * 50
    with torch.no_grad():
        for p in crf.parameters():
            p.mul_(20)
    single = CRF(C, crf.allowed_start, crf.allowed_transitions, crf.allowed_end)
    single.load_state_dict({k: v.float() for k, v in crf.state_dict().items()})
    marginals = single.marginals(emissions.float(), mask)
    assert marginals.dtype == torch.float32
    for b, length in enumerate(LENGTHS):
        expected = brute_force_marginals(crf, emissions[b], length)
        torch.testing.assert_close(marginals[b].double(), expected, rtol=0, atol=1e-6)


def gradients(crf: CRF, partition, emissions, mask, weight) -> list[torch.Tensor]:
    """Value and gradients (emissions, start, transitions, end) of sum(weight * partition)."""
    emissions = emissions.detach().requires_grad_()
    crf.zero_grad()
    log_z = partition(emissions, mask)
    (log_z * weight).sum().backward()
    return [log_z.detach(), emissions.grad, crf.start.grad, crf.transitions.grad, crf.end.grad]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scaled_forward_equals_log_space_forward_and_its_gradients(dtype) -> None:
    """log Z and every gradient of the hand-written backward equal autograd through the
    log-space recursion, on NER-sized batches (17 IOBES tags, constrained, ragged lengths)."""
    names = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC", "ORG", "MISC") for p in "BIES"]
    crf = CRF(len(names), *allowed_transitions(names, "iobes")).to(dtype)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * 3)
    lengths = torch.randint(1, 41, (32,), generator=gen)
    lengths[0] = 40
    mask = torch.arange(40) < lengths[:, None]
    emissions = torch.randn(32, 40, len(names), generator=gen, dtype=dtype) * 8
    weight = torch.rand(32, generator=gen, dtype=dtype)
    fast = gradients(crf, crf.log_partition, emissions, mask, weight)
    slow = gradients(crf, crf.log_space_partition, emissions, mask, weight)
    tolerance = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {}
    for ours, expected in zip(fast, slow, strict=True):
        assert ours.dtype == dtype
        torch.testing.assert_close(ours, expected, **tolerance)
    assert fast[1][~mask].eq(0).all()  # padding gets no gradient


def test_scores_outside_the_scaled_range_fall_back_to_log_space() -> None:
    """A transition gap of 1,000 nats underflows float64's scaled recursion: ScaledForward says
    so with NaN, and log_partition returns the log-space value and its gradients."""
    crf, (emissions, mask) = random_crf(1), batch(1)
    with torch.no_grad():
        crf.transitions[:, 0] = 1000.0  # into tag 0 is best by far ...
    emissions[:, :, 0] = -2000.0  # ... but tag 0 is never emitted
    direct = ScaledForward.apply(emissions, *crf.scores(), mask)
    assert direct[torch.tensor(LENGTHS) > 1].isnan().all()
    weight = torch.ones(len(LENGTHS), dtype=torch.double)
    fast = gradients(crf, crf.log_partition, emissions, mask, weight)
    slow = gradients(crf, crf.log_space_partition, emissions, mask, weight)
    assert fast[0].isfinite().all()
    for ours, expected in zip(fast, slow, strict=True):
        torch.testing.assert_close(ours, expected)
    for b, length in enumerate(LENGTHS):
        paths = [s for s, _ in brute_force(crf, emissions[b], length)]
        expected = torch.logsumexp(torch.tensor(paths, dtype=torch.double), 0)
        torch.testing.assert_close(fast[0][b], expected)


def test_bf16_autocast_leaves_the_scaled_forward_in_float64() -> None:
    """CPU autocast lowers float32 matmuls to bf16 but not float64 ones: under it log Z and its
    gradient are the float32 run's, to the last digit, and stay float32."""
    crf = random_crf(4).float()
    emissions, mask = batch(4)
    emissions = emissions.float()
    plain = gradients(crf, crf.log_partition, emissions, mask, torch.ones(len(LENGTHS)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = gradients(crf, crf.log_partition, emissions, mask, torch.ones(len(LENGTHS)))
    for ours, expected in zip(mixed, plain, strict=True):
        assert ours.dtype == torch.float32
        torch.testing.assert_close(ours, expected, rtol=0, atol=0)
