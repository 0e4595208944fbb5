import pytest
import torch
from torch import nn

from nlptag.models import encoders
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


def packed_reference(encoder: RecurrentEncoder, inputs, lengths):
    """The encoder's rnn run packed, as nn.LSTM/GRU/RNN document it (dropout off)."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    outputs, _ = pad_packed_sequence(encoder.rnn(packed)[0], batch_first=True)
    return outputs


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "irnn"])
@pytest.mark.parametrize(("layers", "bidirectional"), [(1, True), (2, True), (2, False)])
def test_the_padded_run_gives_the_packed_outputs_and_gradients(cell, layers, bidirectional):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(6, cell, 5, layers, bidirectional, dropout=0.0).double()
    lengths = torch.tensor([7, 7, 6, 7, 5])  # 4 of 35 positions are padding: the padded run
    assert 1 - lengths.sum() / (5 * 7) <= encoders.MAX_PADDING
    inputs = torch.randn(5, 7, 6, dtype=torch.double)
    inputs[2, 6:] = 100.0  # padding values that would show if they reached a real step
    inputs[4, 5:] = -100.0
    leaf = inputs.clone().requires_grad_()
    outputs = encoder(leaf, lengths)
    reference_leaf = inputs.clone().requires_grad_()
    reference = packed_reference(encoder, reference_leaf, lengths)
    torch.testing.assert_close(outputs, reference, rtol=1e-10, atol=1e-10)
    assert outputs[2, 6:].abs().sum() == 0 and outputs[4, 5:].abs().sum() == 0
    weights = torch.randn_like(outputs)
    (outputs * weights).sum().backward()
    gradients = [p.grad.clone() for p in encoder.parameters()]
    encoder.zero_grad()
    (reference * weights).sum().backward()
    for mine, theirs in zip(gradients, [p.grad for p in encoder.parameters()]):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(leaf.grad, reference_leaf.grad, rtol=1e-10, atol=1e-10)
    assert leaf.grad[2, 6:].abs().sum() == 0  # padding gets no gradient


def test_the_padded_run_is_for_training_batches_with_little_padding(monkeypatch):
    encoder = RecurrentEncoder(3, "lstm", 4, 1)
    used = []
    monkeypatch.setattr(encoder, "_run_padded", lambda x, n: used.append("padded") or x)
    inputs = torch.randn(4, 8, 3)
    encoder(inputs, torch.tensor([8, 8, 8, 2]))  # 6 of 32 padding (19%)
    encoder(inputs, torch.tensor([8, 8, 2, 2]))  # 12 of 32 padding (38%): packed
    with torch.no_grad():  # evaluation and inference: packed unless inference_run says padded
        encoder(inputs, torch.tensor([8, 8, 8, 2]))
    with torch.inference_mode():
        encoder(inputs, torch.tensor([8, 8, 8, 2]))
    assert used == ["padded"]
    encoder.inference_run = "padded"
    with torch.inference_mode():
        encoder(inputs, torch.tensor([8, 8, 8, 2]))
    assert used == ["padded", "padded"]  # (much padding: two buckets, tested below)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padded_inference_equals_packed(cell):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(5, cell, 6, num_layers=2).eval()
    inputs, lengths = torch.randn(4, 9, 5), torch.tensor([9, 9, 8, 7])
    with torch.inference_mode():
        packed = encoder(inputs, lengths)
        encoder.inference_run = "padded"
        padded = encoder(inputs, lengths)
    torch.testing.assert_close(padded, packed, rtol=0, atol=1e-6)
    assert not padded[3, 7:].any()


def test_fastest_inference_run_times_both_and_leaves_the_encoder_and_rng_alone(monkeypatch):
    encoder = RecurrentEncoder(5, "lstm", 6, num_layers=1)  # in training mode: dropout draws
    runs = []
    original = encoder.forward
    monkeypatch.setattr(
        encoder, "forward", lambda x, n: runs.append(encoder.inference_run) or original(x, n)
    )
    state = torch.random.get_rng_state()
    sample = encoder.timing_sample()
    assert encoders.fastest_inference_run(encoder, *sample, repeats=2) in ("packed", "padded")
    assert runs == ["packed", "padded"] * 3  # a warm-up round, then two timed ones
    assert encoder.inference_run == "packed"
    assert torch.equal(torch.random.get_rng_state(), state)


def test_state_dict_is_the_rnn_s_alone():
    encoder = RecurrentEncoder(3, "gru", 4, 2)
    assert sorted(encoder.state_dict()) == sorted(f"rnn.{k}" for k in encoder.rnn.state_dict())


def test_reversal_index_reverses_each_sequence_in_place():
    index = encoders.reversal_index(torch.tensor([3, 1, 4]), 4)
    assert index.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]


@pytest.mark.parametrize("run", ["packed", "padded"])
def test_inference_on_a_batch_with_much_padding_runs_in_two_buckets_and_equals_packed(run):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(5, "lstm", 6, num_layers=2).eval()
    lengths = torch.tensor([20, 19, 18, 5, 4, 4, 3, 2])  # 43% of the grid is padding
    inputs = torch.randn(8, 20, 5)
    inputs = inputs.masked_fill((torch.arange(20) >= lengths.unsqueeze(1)).unsqueeze(2), 0.0)
    with torch.inference_mode():
        reference = encoder._run_packed(inputs, lengths)
        encoder.inference_run = run
        outputs = encoder(inputs, lengths)
    torch.testing.assert_close(outputs, reference, rtol=0, atol=1e-6)
    assert not outputs[7, 2:].any()
    if run == "padded":  # the split: the three long sentences, then the five short ones
        assert encoders.two_buckets(lengths.sort().values) == 5


def test_length_buckets_cover_every_row_once_shortest_first():
    lengths = torch.tensor([5, 20, 4, 19, 3, 18, 2, 4])
    buckets = encoders.length_buckets(lengths)
    assert len(buckets) == 2
    rows = torch.cat([r for r, _ in buckets])
    assert sorted(rows.tolist()) == list(range(8))
    assert [b.tolist() for _, b in buckets] == [[2, 3, 4, 4, 5], [18, 19, 20]]
    for r, b in buckets:
        assert torch.equal(lengths[r], b)
    assert len(encoders.length_buckets(torch.tensor([7, 7, 7]))) == 1
    assert encoders.padding_share(torch.tensor([4, 2]), 4) == 0.25
