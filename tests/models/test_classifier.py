"""``ClassifierNetwork`` (nlptag/models/classifier.py): label scores against a hand composition
(embedding rows, a fresh ``nn.LSTM`` with the encoder's weights run on each text alone, each
pooling written out, the output layer), padding invariance, dropout placement and the
bidirectional check."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nlptag.models.classifier import ClassifierNetwork
from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.models.pooling import AttentionPooling, FinalStatePooling, MaxPooling, MeanPooling

NUM_WORDS, NUM_CHARS, NUM_LABELS, HIDDEN = 9, 6, 3, 3
TEXTS = [[2, 3, 4, 2, 5], [6, 7], [8], [1, 4, 3]]  # word ids; lengths 5, 2, 1, 3

POOLINGS = {
    "max": lambda f: MaxPooling(f),
    "mean": lambda f: MeanPooling(f),
    "final": lambda f: FinalStatePooling(f),
    "final-unidirectional": lambda f: FinalStatePooling(f, bidirectional=False),
    "attention": lambda f: AttentionPooling(f, attention_size=4),
}


def tiny_classifier(pooling="max", bidirectional=True, dropout=0.0, seed=0) -> ClassifierNetwork:
    torch.manual_seed(seed)
    network = ClassifierNetwork(
        num_words=NUM_WORDS,
        num_chars=NUM_CHARS,
        num_labels=NUM_LABELS,
        embedder=lambda w, c: WordEmbedder(
            w, c, word_dim=4, char_features=None, dropout=0.0, word_dropout=0.0
        ),
        encoder=lambda e: RecurrentEncoder(
            e, hidden_size=HIDDEN, num_layers=2, bidirectional=bidirectional, dropout=0.0
        ),
        pooling=POOLINGS[pooling],
        dropout=dropout,
    )
    return network.eval()


def make_batch(texts):
    """words (B, T) padded with 0, chars (B, T, 1) (character 2 at every real word), lengths."""
    words = torch.zeros(len(texts), max(map(len, texts)), dtype=torch.long)
    for b, text in enumerate(texts):
        words[b, : len(text)] = torch.tensor(text)
    chars = words.ne(0).long().unsqueeze(2) * 2
    return words, chars, torch.tensor([len(t) for t in texts])


def hand_features(network: ClassifierNetwork, text) -> torch.Tensor:
    """Encoder outputs (T, F) of one text alone, by a fresh nn.LSTM with copied weights."""
    source = network.encoder.rnn
    reference = nn.LSTM(
        source.input_size,
        source.hidden_size,
        num_layers=source.num_layers,
        bidirectional=source.bidirectional,
        batch_first=True,
    )
    reference.load_state_dict(source.state_dict())
    inputs = network.embedder.word_embedding.weight[torch.tensor(text)].unsqueeze(0)
    return reference(inputs)[0][0]


def hand_pool(pooling: str, network: ClassifierNetwork, h: torch.Tensor) -> torch.Tensor:
    """The pooled vector (F,) of the real positions h (T, F), written out per pooling."""
    if pooling == "max":
        return h.max(dim=0).values
    if pooling == "mean":
        return h.sum(dim=0) / h.size(0)
    if pooling == "final":  # forward direction ends at the last word, backward at the first
        return torch.cat([h[-1, :HIDDEN], h[0, HIDDEN:]])
    if pooling == "final-unidirectional":
        return h[-1]
    attention = network.pooling
    energies = torch.stack(
        [
            attention.context.weight[0]
            @ torch.tanh(attention.projection.weight @ h_t + attention.projection.bias)
            for h_t in h
        ]
    )
    weights = energies.exp() / energies.exp().sum()
    return (weights[:, None] * h).sum(dim=0)


@pytest.mark.parametrize("pooling", list(POOLINGS))
def test_scores_equal_the_hand_composition(pooling):
    network = tiny_classifier(pooling, bidirectional=pooling != "final-unidirectional", seed=1)
    with torch.no_grad():
        scores = network(*make_batch(TEXTS))
        for b, text in enumerate(TEXTS):
            pooled = hand_pool(pooling, network, hand_features(network, text))
            expected = network.output.weight @ pooled + network.output.bias
            torch.testing.assert_close(scores[b], expected, atol=1e-5, rtol=1e-5)
    assert scores.shape == (len(TEXTS), NUM_LABELS)


@pytest.mark.parametrize("pooling", list(POOLINGS))
def test_padding_never_changes_a_texts_scores(pooling):
    network = tiny_classifier(pooling, bidirectional=pooling != "final-unidirectional", seed=2)
    with torch.no_grad():
        for short in TEXTS[1:]:
            alone = network(*make_batch([short]))[0]
            batched = network(*make_batch([TEXTS[0], short, [5] * 7]))[1]  # padded to 7
            torch.testing.assert_close(batched, alone, atol=1e-6, rtol=0)


def test_scores_is_forward():
    network = tiny_classifier("attention", seed=3)
    batch = make_batch(TEXTS)
    with torch.no_grad():
        assert torch.equal(network.scores(*batch), network(*batch))


def test_dropout_is_on_the_pooled_vector_and_only_in_training():
    network = tiny_classifier("mean", dropout=1.0, seed=4)
    batch = make_batch(TEXTS)
    with torch.no_grad():
        # eval: no dropout, the hand composition
        pooled = hand_pool("mean", network, hand_features(network, TEXTS[0]))
        expected = network.output.weight @ pooled + network.output.bias
        torch.testing.assert_close(network(*batch)[0], expected, atol=1e-5, rtol=1e-5)
        # training with p = 1: the pooled vector is all zeros, so every text scores the bias
        network.train()
        scores = network(*batch)
    assert torch.equal(scores, network.output.bias.detach().expand(len(TEXTS), NUM_LABELS))


def test_the_scores_reach_every_parameter():
    network = tiny_classifier("attention", seed=5).train()
    words, chars, lengths = make_batch(TEXTS)
    labels = torch.tensor([0, 2, 1, 2])
    nn.functional.cross_entropy(network(words, chars, lengths), labels).backward()
    for name, parameter in network.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    ("pooling_bidirectional", "encoder_bidirectional"), [(False, True), (True, False)]
)
def test_a_final_state_pooling_must_agree_with_the_encoder(
    pooling_bidirectional, encoder_bidirectional
):
    message = (
        f"pooling: bidirectional={pooling_bidirectional} does not match the encoder's "
        f"bidirectional={encoder_bidirectional}"
    )
    with pytest.raises(ValueError, match=message):
        ClassifierNetwork(
            num_words=NUM_WORDS,
            num_chars=NUM_CHARS,
            embedder=lambda w, c: WordEmbedder(w, c, word_dim=4, char_features=None),
            encoder=lambda e: RecurrentEncoder(
                e, hidden_size=2, num_layers=1, bidirectional=encoder_bidirectional
            ),
            pooling=lambda f: FinalStatePooling(f, bidirectional=pooling_bidirectional),
        )


def test_poolings_without_a_direction_fit_any_encoder():
    network = tiny_classifier("mean", bidirectional=False)
    assert network.pooling.output_size == HIDDEN and network.output.in_features == HIDDEN


def test_defaults():
    network = ClassifierNetwork(num_words=5, num_chars=4).eval()
    assert isinstance(network.pooling, MaxPooling)
    assert network.dropout.p == 0.5
    assert network.output.in_features == 2 * 256 and network.output.out_features == 2
    with torch.no_grad():
        assert network(*make_batch([[2, 3], [4]])).shape == (2, 2)
