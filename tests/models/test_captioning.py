"""Caption decoders: the lecture formula of the image-at-every-step RNN, teacher forcing equal to
stepping, and the caption search's strategies."""

from __future__ import annotations

import pytest
import torch

from nlptag.models.caption_search import CaptionSearch
from nlptag.models.captioning import (
    CaptionNetwork,
    ImageEveryStepDecoder,
    ShowAndTellDecoder,
    SoftAttentionDecoder,
)
from nlptag.text.specials import EOS_ID

V, K = 12, 6


def network(decoder, cell="lstm", **kwargs) -> CaptionNetwork:
    torch.manual_seed(0)
    return CaptionNetwork(
        V, K, lambda v, k: decoder(v, k, embedding_dim=5, cell=cell, hidden_size=7, **kwargs)
    ).eval()


def test_image_every_step_rnn_is_the_lecture_formula():
    net = network(ImageEveryStepDecoder, "rnn", dropout=0.0)
    decoder = net.decoder
    grid = torch.randn(2, 49, K)
    v = grid.mean(dim=1)
    words = torch.tensor([[2, 5, 7], [2, 4, 4]])
    weight = decoder.rnn.weight_ih_l0  # (H, E + K) = [W_xh  W_ih]
    w_xh, w_ih = weight[:, :5], weight[:, 5:]
    w_hh, bias = decoder.rnn.weight_hh_l0, decoder.rnn.bias_ih_l0 + decoder.rnn.bias_hh_l0
    h = torch.zeros(2, 7)
    expected = []
    for t in range(3):
        x = decoder.embedding(words[:, t])
        h = torch.tanh(x @ w_xh.T + h @ w_hh.T + v @ w_ih.T + bias)
        expected.append(decoder.logits(h))
    logits, attention = net(grid, words)
    assert attention is None
    torch.testing.assert_close(logits, torch.stack(expected, dim=1))


@pytest.mark.parametrize(
    "decoder,kwargs",
    [
        (ShowAndTellDecoder, {"inject": "input"}),
        (ShowAndTellDecoder, {"inject": "state"}),
        (ImageEveryStepDecoder, {}),
        (SoftAttentionDecoder, {}),
        (SoftAttentionDecoder, {"gate": False}),
    ],
)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_teacher_forcing_equals_stepping(decoder, kwargs, cell):
    net = network(decoder, cell, **kwargs)
    grid, words = torch.randn(3, 49, K), torch.randint(2, V, (3, 4))
    logits, attention = net(grid, words)
    memory, state = net.encode(grid)
    steps = []
    for t in range(4):
        vector, state, weights = net.decoder.step(words[:, t], state, memory)
        steps.append(net.decoder.logits(vector))
        assert weights.shape == (3, 49)
    torch.testing.assert_close(logits, torch.stack(steps, dim=1))
    if decoder is SoftAttentionDecoder:
        assert attention.shape == (3, 4, 49)
        torch.testing.assert_close(attention.sum(-1), torch.ones(3, 4))


def test_search_strategies_stop_at_end_or_the_limit():
    net = network(SoftAttentionDecoder)
    grid = torch.randn(4, 49, K)
    greedy = CaptionSearch(beam_size=1, max_length=6)
    beam = CaptionSearch(beam_size=3, max_length=6)
    for search in (greedy, beam, CaptionSearch("sample", top_k=3, seed=1, max_length=6)):
        hypotheses = search(net, grid)
        assert hypotheses.tokens.size(2) <= 6
        for row in hypotheses.tokens[:, 0].tolist():
            assert EOS_ID in row  # forced at the limit at the latest
    # beam search finds at least as probable a caption as greedy (no length penalty)
    assert (beam(net, grid).scores[:, 0] >= greedy(net, grid).scores[:, 0] - 1e-5).all()
    # sampling is reproducible with a seed, and temperature 0 is greedy
    sample = CaptionSearch("sample", seed=3, max_length=6)
    assert sample.best(net, grid) == sample.best(net, grid)
    assert CaptionSearch("sample", temperature=0.0, max_length=6).best(net, grid) == greedy.best(
        net, grid
    )
    with_attention = beam.best_with_attention(net, grid)
    assert all(w.shape == (len(ids), 49) for ids, w in with_attention)


def test_bad_search_settings_are_refused():
    with pytest.raises(ValueError):
        CaptionSearch(beam_size=0)
    with pytest.raises(ValueError):
        CaptionSearch(top_k=0)
    with pytest.raises(ValueError):
        CaptionSearch(temperature=-1)
