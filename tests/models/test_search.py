"""Greedy and beam search on a tiny model whose next-token distribution depends only on the
previous token (a fixed bigram table), so every hypothesis's probability is a hand product."""

import itertools
import math

import pytest
import torch

from nlptag.models.search import (
    Search,
    beam_search,
    greedy_search,
    length_penalty,
    max_output_lengths,
)
from nlptag.text.specials import BOS_ID, EOS_ID, PAD_ID

A, B = 4, 5  # the two words after the four specials
VOCAB = 6


class _Same:
    """Encoder output and decoder state that carry nothing: selecting rows changes nothing."""

    def select(self, index):
        return self


class _Decoder:
    def __init__(self, table):
        self.log_table = torch.full((VOCAB, VOCAB), float("-inf"))
        for previous, row in table.items():
            for token, probability in row.items():
                self.log_table[previous, token] = math.log(probability)

    def step(self, previous, state, encoded):
        return previous, state, torch.full((previous.size(0), 2), 0.5)

    def logits(self, vector):
        return self.log_table[vector]


class BigramModel:
    def __init__(self, table):
        self.decoder = _Decoder(table)

    def encode(self, source, lengths):
        return _Same(), _Same()


# Greedy takes A (0.5) and then </s> (0.4): 0.2. B then </s> is 0.4 * 0.9 = 0.36.
GREEDY_TRAP = {
    BOS_ID: {A: 0.5, B: 0.4, EOS_ID: 0.1},
    A: {EOS_ID: 0.4, A: 0.3, B: 0.3},
    B: {EOS_ID: 0.9, A: 0.05, B: 0.05},
}
SOURCE, LENGTHS = torch.tensor([[A, B]]), torch.tensor([2])


def sequence_probability(table, tokens):
    previous, probability = BOS_ID, 1.0
    for token in tokens:
        probability *= table[previous].get(token, 0.0)
        previous = token
    return probability


def kept(row):
    return [t for t in row if t != PAD_ID]


def test_greedy_takes_the_locally_best_token_and_sums_its_log_probabilities():
    hypotheses = greedy_search(BigramModel(GREEDY_TRAP), SOURCE, LENGTHS)
    assert hypotheses.tokens.tolist() == [[[A, EOS_ID]]]
    assert hypotheses.scores.item() == pytest.approx(math.log(0.5 * 0.4))


def test_beam_of_two_finds_the_exhaustive_best_and_ranks_both_hypotheses():
    hypotheses = beam_search(
        BigramModel(GREEDY_TRAP),
        SOURCE,
        LENGTHS,
        beam_size=2,
        max_length_ratio=0.0,
        max_length_offset=3,
    )
    candidates = [
        [*prefix, EOS_ID] for n in range(3) for prefix in itertools.product([A, B], repeat=n)
    ]
    best = max(candidates, key=lambda c: sequence_probability(GREEDY_TRAP, c))
    assert best == [B, EOS_ID]
    assert [kept(row) for row in hypotheses.tokens[0].tolist()] == [[B, EOS_ID], [A, EOS_ID]]
    assert hypotheses.scores[0].tolist() == pytest.approx([math.log(0.36), math.log(0.2)])


def test_a_length_penalty_lets_a_longer_hypothesis_win():
    # [</s>]: log 0.45 = -0.799; [B, </s>]: log 0.405 = -0.904, / ((5 + 2) / 6) ** 2 = -0.664
    table = {BOS_ID: {EOS_ID: 0.45, B: 0.45, A: 0.1}, B: {EOS_ID: 0.9, A: 0.05, B: 0.05}}
    model = BigramModel(table)
    plain = beam_search(model, SOURCE, LENGTHS, beam_size=2, alpha=0.0)
    assert [kept(row) for row in plain.tokens[0].tolist()] == [[EOS_ID], [B, EOS_ID]]
    assert plain.scores[0].tolist() == pytest.approx([math.log(0.45), math.log(0.405)])
    penalised = beam_search(model, SOURCE, LENGTHS, beam_size=2, alpha=2.0)
    assert [kept(row) for row in penalised.tokens[0].tolist()] == [[B, EOS_ID], [EOS_ID]]
    assert penalised.scores[0].tolist() == pytest.approx(
        [math.log(0.405) / (7 / 6) ** 2, math.log(0.45)]
    )


def test_the_length_limit_forces_end_of_sentence_at_its_own_cost():
    table = {BOS_ID: {A: 0.9, EOS_ID: 0.1}, A: {A: 0.8, EOS_ID: 0.2}}
    model = BigramModel(table)
    limits = dict(max_length_ratio=1.0, max_length_offset=1)  # 2 * 1.0 + 1 = 3 tokens
    greedy = greedy_search(model, SOURCE, LENGTHS, **limits)
    assert greedy.tokens.tolist() == [[[A, A, EOS_ID]]]
    assert greedy.scores.item() == pytest.approx(math.log(0.9 * 0.8 * 0.2))
    beam = beam_search(model, SOURCE, LENGTHS, beam_size=2, **limits)
    # [A, </s>] (0.18) beats [A, A, </s>] (0.144), whose </s> was forced at the limit
    assert [kept(row) for row in beam.tokens[0].tolist()] == [[A, EOS_ID], [A, A, EOS_ID]]
    assert beam.scores[0].tolist() == pytest.approx([math.log(0.18), math.log(0.144)])


def test_length_limits_and_penalties_by_their_formulas():
    assert max_output_lengths(torch.tensor([1, 2, 3]), 1.5, 10).tolist() == [12, 13, 15]
    assert max_output_lengths(torch.tensor([4]), 0.0, 3).tolist() == [3]
    assert length_penalty(torch.tensor([1, 7]), 1.0).tolist() == pytest.approx([1.0, 2.0])
    assert length_penalty(torch.tensor([13]), 0.5).item() == pytest.approx(math.sqrt(3.0))
    assert length_penalty(torch.tensor([3, 40]), 0.0).tolist() == [1.0, 1.0]


def test_search_is_greedy_for_beam_one_and_rejects_beam_zero():
    model = BigramModel(GREEDY_TRAP)
    search = Search(beam_size=2, length_penalty=1.0)
    assert search.best(model, SOURCE, LENGTHS) == [[B]]
    greedy = search(model, SOURCE, LENGTHS, beam_size=1)
    assert greedy.scores.item() == pytest.approx(math.log(0.2))  # no length penalty
    assert search.best(model, SOURCE, LENGTHS, beam_size=1) == [[A]]
    with pytest.raises(ValueError, match="^beam_size must be at least 1, got 0$"):
        Search(beam_size=0)
    with pytest.raises(ValueError, match="^beam_size must be at least 1, got 0$"):
        search(model, SOURCE, LENGTHS, beam_size=0)
