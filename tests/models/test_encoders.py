import pytest
import torch
from torch import nn

from nlptag.models.encoders import RecurrentEncoder, build_rnn


@pytest.mark.parametrize("cell,reference", [("lstm", nn.LSTM), ("gru", nn.GRU), ("rnn", nn.RNN)])
def test_cells_are_the_fused_kernels(cell, reference):
    rnn = build_rnn(cell, 4, 3, num_layers=2, bidirectional=True)
    assert type(rnn) is reference and rnn.num_layers == 2 and rnn.bidirectional
    if cell == "rnn":
        assert rnn.nonlinearity == "tanh"


def test_irnn_is_relu_with_identity_recurrence_and_zero_bias():
    rnn = build_rnn("irnn", 4, 5, num_layers=2)
    assert rnn.nonlinearity == "relu"
    for layer in range(2):
        assert torch.equal(getattr(rnn, f"weight_hh_l{layer}"), torch.eye(5))
        assert not getattr(rnn, f"bias_hh_l{layer}").any()
        assert not getattr(rnn, f"bias_ih_l{layer}").any()


def test_irnn_carries_a_state_unchanged_without_input():
    rnn = build_rnn("irnn", 2, 3)
    h0 = torch.tensor([[[0.5, 1.0, 2.0]]])
    out, _ = rnn(torch.zeros(1, 10, 2), h0)
    assert torch.allclose(out[0, -1], h0[0, 0])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "irnn"])
def test_padded_batch_equals_each_sentence_alone(cell):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(4, cell=cell, hidden_size=3, num_layers=2, dropout=0.0).eval()
    long, short = torch.randn(1, 5, 4), torch.randn(1, 2, 4)
    padded = torch.cat([long, torch.cat([short, torch.full((1, 3, 4), 7.0)], dim=1)])
    outputs = encoder(padded, torch.tensor([5, 2]))
    assert outputs.shape == (2, 5, 6)
    assert torch.allclose(outputs[0], encoder(long, torch.tensor([5]))[0], atol=1e-6)
    assert torch.allclose(outputs[1, :2], encoder(short, torch.tensor([2]))[0], atol=1e-6)
    assert not outputs[1, 2:].any()


def test_unidirectional_output_size():
    assert RecurrentEncoder(4, hidden_size=3, bidirectional=False).output_size == 3
