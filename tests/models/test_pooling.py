import pytest
import torch
from torch import nn

from nlptag.models.encoders import RecurrentEncoder
from nlptag.models.pooling import AttentionPooling, FinalStatePooling, MaxPooling, MeanPooling

LENGTHS = [3, 1, 4, 2]
D = 5


def padded_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs (B, T, D) with junk in the padding, lengths (B,), mask (B, T)."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(len(LENGTHS), max(LENGTHS), D, generator=generator)
    lengths = torch.tensor(LENGTHS)
    mask = torch.arange(max(LENGTHS)) < lengths[:, None]
    return inputs, lengths, mask


POOLINGS = {
    "final_states": lambda size: FinalStatePooling(size),
    "max": MaxPooling,
    "mean": MeanPooling,
    "attention": lambda size: AttentionPooling(size, attention_size=3),
}


@pytest.mark.parametrize("name", POOLINGS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padded_batch_pools_like_each_sentence_alone(name, cell):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(D, cell=cell, hidden_size=4, num_layers=2, dropout=0.0).eval()
    pooling = POOLINGS[name](encoder.output_size)
    inputs, lengths, mask = padded_batch()
    with torch.no_grad():
        pooled = pooling(encoder(inputs, lengths), mask)
        assert pooled.shape == (len(LENGTHS), pooling.output_size)
        for i, length in enumerate(LENGTHS):
            alone = inputs[i : i + 1, :length]
            one_mask = torch.ones(1, length, dtype=torch.bool)
            expected = pooling(encoder(alone, torch.tensor([length])), one_mask)
            torch.testing.assert_close(pooled[i : i + 1], expected)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_final_states_are_the_rnn_final_hidden_states(bidirectional):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(
        D, cell="gru", hidden_size=4, num_layers=1, bidirectional=bidirectional, dropout=0.0
    ).eval()
    inputs, lengths, mask = padded_batch()
    with torch.no_grad():
        pooled = FinalStatePooling(encoder.output_size, bidirectional)(
            encoder(inputs, lengths), mask
        )
        packed = nn.utils.rnn.pack_padded_sequence(
            inputs, lengths, batch_first=True, enforce_sorted=False
        )
        _, final = encoder.rnn(packed)  # (directions, B, H)
    torch.testing.assert_close(pooled, torch.cat(list(final), dim=-1))


def test_final_states_need_an_even_size_when_bidirectional():
    with pytest.raises(ValueError, match="even"):
        FinalStatePooling(5)


FEATURES = torch.tensor(
    [[[1.0, -2.0], [3.0, -4.0], [9.0, 9.0]], [[-1.0, 0.5], [0.0, 0.0], [0.0, 0.0]]]
)
MASK = torch.tensor([[True, True, False], [True, False, False]])


def test_max_pooling_numbers():
    assert MaxPooling(2)(FEATURES, MASK).tolist() == [[3.0, -2.0], [-1.0, 0.5]]


def test_mean_pooling_numbers():
    assert MeanPooling(2)(FEATURES, MASK).tolist() == [[2.0, -3.0], [-1.0, 0.5]]


def test_final_state_numbers():
    # forward half from the last real position, backward half from position 0
    assert FinalStatePooling(2)(FEATURES, MASK).tolist() == [[3.0, -2.0], [-1.0, 0.5]]
    assert FinalStatePooling(2, bidirectional=False)(FEATURES, MASK).tolist() == [
        [3.0, -4.0],
        [-1.0, 0.5],
    ]


def test_attention_weights_are_a_distribution_over_real_positions():
    torch.manual_seed(0)
    attention = AttentionPooling(2, attention_size=4)
    weights = attention.weights(FEATURES, MASK)
    assert weights[~MASK].eq(0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2))
    with torch.no_grad():
        attention.context.weight.zero_()  # equal scores: attention becomes the mean
    torch.testing.assert_close(attention(FEATURES, MASK), MeanPooling(2)(FEATURES, MASK))
