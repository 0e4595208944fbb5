import math

import pytest
import torch

from nlptag.models.attention import AdditiveAttention, DotAttention, GeneralAttention

KEYS = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]])  # (1, 3, 2)
VALUES = torch.tensor([[[10.0], [20.0], [1000.0]]])  # (1, 3, 1)
MASK = torch.tensor([[True, True, False]])


def test_dot_attention_is_a_softmax_of_dot_products_over_the_unmasked_positions():
    attention = DotAttention(2, 2)
    query = torch.tensor([[1.0, 0.0]])  # scores 1, 0 (and 2, masked)
    context, weights = attention(query, attention.project_keys(KEYS), VALUES, MASK)
    e = math.e
    assert weights.tolist()[0] == pytest.approx([e / (e + 1), 1 / (e + 1), 0.0])
    assert context.item() == pytest.approx((10 * e + 20) / (e + 1))


def test_general_attention_scores_the_query_against_projected_keys():
    attention = GeneralAttention(2, 2)
    with torch.no_grad():
        attention.key_layer.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 3.0]]))
    query = torch.tensor([[1.0, 1.0]])  # W k = (0, 0), (0, 3), (0, 0): scores 0, 3, masked
    context, weights = attention(query, attention.project_keys(KEYS), VALUES, MASK)
    expected = [1 / (1 + math.exp(3)), math.exp(3) / (1 + math.exp(3)), 0.0]
    assert weights.tolist()[0] == pytest.approx(expected)
    assert context.item() == pytest.approx(10 * expected[0] + 20 * expected[1])


def test_additive_attention_matches_a_hand_computation():
    attention = AdditiveAttention(query_size=1, key_size=2, hidden_size=2)
    with torch.no_grad():
        attention.query_layer.weight.copy_(torch.tensor([[1.0], [0.0]]))  # W q = (q, 0)
        attention.key_layer.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, -1.0]]))  # U k
        attention.energy_layer.weight.copy_(torch.tensor([[2.0, 1.0]]))  # v
    query = torch.tensor([[0.5]])
    scores = [
        2 * math.tanh(0.5 + 0) + math.tanh(0 + 1),  # k = (1, 0): U k = (0, 1)
        2 * math.tanh(0.5 + 0) + math.tanh(0 - 1),  # k = (0, 1): U k = (0, -1)
    ]
    total = math.exp(scores[0]) + math.exp(scores[1])
    _, weights = attention(query, attention.project_keys(KEYS), VALUES, MASK)
    assert weights.tolist()[0] == pytest.approx(
        [math.exp(scores[0]) / total, math.exp(scores[1]) / total, 0.0]
    )


def test_each_sentence_of_a_batch_uses_its_own_mask_and_weights_sum_to_one():
    torch.manual_seed(0)
    attention = AdditiveAttention(4, 3)
    keys, values = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    context, weights = attention(torch.randn(2, 4), attention.project_keys(keys), values, mask)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    assert weights[1, 2:].tolist() == [0.0, 0.0, 0.0]
    assert (weights[0] > 0).all()
    expected = (weights.unsqueeze(2) * values).sum(1)
    torch.testing.assert_close(context, expected)


def test_dot_attention_refuses_unequal_sizes_and_additive_defaults_to_the_query_size():
    with pytest.raises(
        ValueError,
        match=r"^dot attention needs equal query and key sizes, got 8 and 16; use "
        r"GeneralAttention or AdditiveAttention$",
    ):
        DotAttention(8, 16)
    assert AdditiveAttention(6, 4).key_layer.out_features == 6
