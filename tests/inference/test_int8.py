"""int8 with fixed activation ranges: the same numbers in any batch, PyTorch's int8 weights,
states that pin the range, and bounds that hold for every input."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlptag.errors import NlptagError
from nlptag.inference.int8 import (
    FixedRangeInt8RNN,
    _widened,
    quantize_int8,
    reversal_permutation,
)
from nlptag.models.classifier import ClassifierNetwork
from nlptag.models.embeddings import CharBiLSTM, CharCNN, WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.models.language_model import CharRNN
from nlptag.models.tagger import TaggerNetwork


def run(rnn: nn.Module, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, E) padded inputs -> (B, T, F) padded outputs of a packed run."""
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        outputs = rnn(packed)[0]
    return pad_packed_sequence(outputs, batch_first=True, total_length=inputs.size(1))[0]


def test_reversal_permutation_reverses_each_packed_sequence_in_place():
    lengths = torch.tensor([3, 7, 1, 7, 4, 2])
    time = int(lengths.max())
    steps = torch.arange(time).expand(len(lengths), time).unsqueeze(2).float()  # value = step
    packed = pack_padded_sequence(steps, lengths, batch_first=True, enforce_sorted=False)
    permutation = reversal_permutation(packed.batch_sizes)
    reversed_ = packed._replace(data=packed.data.index_select(0, permutation))
    padded = pad_packed_sequence(reversed_, batch_first=True)[0].squeeze(2)
    for row, length in enumerate(lengths.tolist()):
        assert padded[row, :length].tolist() == list(range(length - 1, -1, -1))
    assert torch.equal(permutation[permutation], torch.arange(int(lengths.sum())))


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU])
def test_the_extra_units_reach_the_largest_state_at_every_step(cell):
    torch.manual_seed(0)
    rnn = cell(5, 4, batch_first=True)
    wide = _widened(rnn, 0, "")
    inputs = torch.randn(3, 12, 5) * 10
    with torch.no_grad():
        outputs = wide(torch.cat([inputs, torch.randn(3, 12, 2)], dim=2))[0]  # (3, 12, 4 + 2)
        plain = rnn(inputs)[0]
    steps = torch.arange(1, 13, dtype=torch.float32)
    top = torch.tanh(steps) if cell is nn.LSTM else torch.ones(12)  # |state| after t steps
    for row in range(3):
        assert torch.equal(outputs[row, :, 4], top) and torch.equal(outputs[row, :, 5], -top)
    # the real units are the float RNN's, and never beyond the extra ones
    torch.testing.assert_close(outputs[..., :4], plain, rtol=0, atol=1e-6)
    assert bool((outputs[..., :4].abs() <= top.view(1, 12, 1)).all())


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU])
def test_widening_keeps_pytorchs_int8_weights(cell):
    torch.manual_seed(1)
    rnn = cell(6, 5, 2, batch_first=True, bidirectional=True)
    reference = torch.ao.quantization.quantize_dynamic(nn.Sequential(rnn), {cell})[0]
    fixed = FixedRangeInt8RNN(rnn, 3.0)
    gates = 4 if cell is nn.LSTM else 3
    theirs = reference._weight_bias()["weight"]
    for layer, direction in itertools.product(range(2), range(2)):
        ours = fixed.layers[layer][direction]._weight_bias()["weight"]
        suffix = "_reverse" if direction else ""
        for kind, inputs in (("ih", 6 if layer == 0 else 10), ("hh", 5)):
            mine, reference_weight = (
                ours[f"weight_{kind}_l0"],
                theirs[f"weight_{kind}_l{layer}{suffix}"],
            )
            assert mine.q_scale() == reference_weight.q_scale()  # per tensor, symmetric
            blocks = mine.int_repr().reshape(gates, 5 + 2, inputs + 2)
            assert torch.equal(
                blocks[:, :5, :inputs].reshape(gates * 5, inputs), reference_weight.int_repr()
            )
            blocks[:, :5, :inputs] = 0
            assert not blocks.any()  # the extra rows and columns hold zeros


@pytest.mark.parametrize(
    "cell, layers, bidirectional",
    [(nn.LSTM, 1, True), (nn.LSTM, 2, True), (nn.LSTM, 2, False), (nn.GRU, 2, True)],
)
def test_a_sequence_gives_the_same_numbers_in_any_batch(cell, layers, bidirectional):
    torch.manual_seed(2)
    rnn = cell(8, 16, layers, batch_first=True, bidirectional=bidirectional).eval()
    inputs, lengths = torch.randn(11, 9, 8), torch.tensor([9, 3, 1, 9, 5, 7, 2, 9, 4, 6, 8])
    inputs[3] *= 4  # one row with a much wider range than the others
    fixed = FixedRangeInt8RNN(rnn, float(inputs.abs().max()))
    together = run(fixed, inputs, lengths)
    for row in range(11):
        alone = run(fixed, inputs[row : row + 1], lengths[row : row + 1])[0]
        assert torch.equal(together[row], alone)
    torch.testing.assert_close(together, run(rnn, inputs, lengths), rtol=0, atol=0.08)
    # PyTorch's dynamic int8 does depend on the batch: the reason this module exists
    dynamic = torch.ao.quantization.quantize_dynamic(nn.Sequential(rnn), {cell})[0]
    batched = run(dynamic, inputs, lengths)
    assert not all(
        torch.equal(batched[row], run(dynamic, inputs[row : row + 1], lengths[row : row + 1])[0])
        for row in range(11)
    )


@pytest.mark.parametrize(
    "cell, layers, bidirectional",
    [(nn.LSTM, 1, True), (nn.LSTM, 2, True), (nn.LSTM, 2, False), (nn.GRU, 2, True)],
)
def test_the_padded_run_is_batch_independent_too_and_equals_the_packed_one(
    cell, layers, bidirectional
):
    torch.manual_seed(2)
    rnn = cell(8, 16, layers, batch_first=True, bidirectional=bidirectional).eval()
    inputs, lengths = torch.randn(11, 9, 8), torch.tensor([9, 3, 1, 9, 5, 7, 2, 9, 4, 6, 8])
    inputs[3] *= 4
    steps = torch.arange(9)
    inputs = inputs.masked_fill((steps >= lengths.unsqueeze(1)).unsqueeze(2), 0.0)  # as encoded
    fixed = FixedRangeInt8RNN(rnn, float(inputs.abs().max()))
    with torch.inference_mode():
        together = fixed.run_padded(inputs, lengths)
        for row in range(11):
            alone = fixed.run_padded(inputs[row : row + 1, : lengths[row]], lengths[row : row + 1])
            assert torch.equal(together[row, : lengths[row]], alone[0])
        assert not together[1, 3:].any()  # padding
    torch.testing.assert_close(together, run(fixed, inputs, lengths), rtol=0, atol=1e-6)


def test_inputs_beyond_the_bound_are_clipped_to_it():
    torch.manual_seed(3)
    rnn = nn.LSTM(4, 6, batch_first=True).eval()
    fixed = FixedRangeInt8RNN(rnn, 1.0)
    inputs, lengths = torch.randn(2, 5, 4) * 3, torch.tensor([5, 3])
    assert torch.equal(run(fixed, inputs, lengths), run(fixed, inputs.clamp(-1, 1), lengths))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="batch-first LSTM or GRU"):
        FixedRangeInt8RNN(nn.RNN(3, 4, batch_first=True), 1.0)
    with pytest.raises(ValueError, match="positive and finite"):
        FixedRangeInt8RNN(nn.LSTM(3, 4, batch_first=True), float("inf"))
    fixed = FixedRangeInt8RNN(nn.LSTM(3, 4, batch_first=True), 1.0)
    packed = pack_padded_sequence(torch.randn(1, 2, 3), torch.tensor([2]), batch_first=True)
    with pytest.raises(ValueError, match="zero states"):
        fixed(packed, torch.zeros(1, 1, 4))


def test_the_char_cnn_bound_holds_for_every_spelling_and_is_reached():
    torch.manual_seed(4)
    cnn = CharCNN(num_chars=4, char_dim=3, num_filters=5, kernel_size=3)
    with torch.no_grad():
        cnn.conv.bias.add_(5.0)  # the positive side is the larger, where the bound is reached
    spellings = [
        list(word) + [0] * (4 - len(word))
        for length in range(1, 5)
        for word in itertools.product(range(1, 4), repeat=length)
    ]
    with torch.no_grad():
        features = cnn(torch.tensor(spellings))
    assert features.abs().max().item() == pytest.approx(cnn.output_bound(), abs=1e-5)
    wide = CharCNN(num_chars=4, char_dim=3, num_filters=5, kernel_size=5)
    with torch.no_grad():
        assert wide(torch.tensor(spellings)).abs().max().item() <= wide.output_bound() + 1e-5


def test_word_embedder_bounds():
    torch.manual_seed(5)
    cnn = WordEmbedder(30, 10, word_dim=6, char_features=CharCNN)
    table = cnn.word_embedding.weight.abs().max().item()
    assert cnn.output_bound() == max(table, cnn.char_features.output_bound())
    assert cnn.rnn_input_bounds() == {}
    lstm = WordEmbedder(30, 10, word_dim=6, char_features=CharBiLSTM)
    assert lstm.output_bound() == max(lstm.word_embedding.weight.abs().max().item(), 1.0)
    chars = lstm.char_features.embedding.weight.abs().max().item()
    assert lstm.rnn_input_bounds() == {"char_features.lstm": chars}
    words_only = WordEmbedder(30, 10, char_features=None)
    assert words_only.output_bound() == words_only.word_embedding.weight.abs().max().item()


@pytest.mark.parametrize("network_class", [TaggerNetwork, ClassifierNetwork])
def test_taggers_and_classifiers_run_every_lstm_in_fixed_range_int8(network_class):
    torch.manual_seed(6)
    network = network_class(
        num_words=40,
        num_chars=12,
        embedder=lambda words, chars: WordEmbedder(words, chars, 8, CharBiLSTM),
        encoder=lambda size: RecurrentEncoder(size, hidden_size=10),
    ).eval()
    words, chars = torch.randint(2, 40, (6, 7)), torch.randint(2, 12, (6, 7, 5))
    lengths = torch.tensor([7, 2, 5, 1, 7, 4])
    with torch.no_grad():
        expected = network(words, chars, lengths)
    bounds = network.rnn_input_bounds()
    assert set(bounds) == {"encoder.rnn", "embedder.char_features.lstm"}
    assert bounds["encoder.rnn"] == network.embedder.output_bound()
    quantized = quantize_int8(network)
    assert quantized is network and isinstance(network.encoder.rnn, FixedRangeInt8RNN)
    assert isinstance(network.embedder.char_features.lstm, FixedRangeInt8RNN)
    with torch.no_grad():
        got = network(words, chars, lengths)
        alone = [network(words[i : i + 1], chars[i : i + 1], lengths[i : i + 1]) for i in range(6)]
    torch.testing.assert_close(got, expected, rtol=0, atol=0.1)
    if network_class is TaggerNetwork:  # the padding of the batch is not the sentence's
        for row in range(6):
            length = int(lengths[row])
            assert torch.equal(got[row, :length], alone[row][0, :length])
    else:  # the float output layer may round the last bit differently with the batch size
        torch.testing.assert_close(got, torch.cat(alone), rtol=0, atol=1e-6)


def test_a_network_without_bounds_is_refused_in_one_line():
    network = CharRNN(num_chars=10, hidden_size=8).eval()
    with pytest.raises(NlptagError) as error:
        quantize_int8(network, "bundles/lm")
    message = str(error.value)
    assert message.startswith("bundles/lm: CharRNN does not run in int8: ")
    assert "use a float32 bundle" in message and "\n" not in message
