"""``TaggerNetwork`` (nlptag/models/tagger.py): the composition embedder -> encoder -> head checked
against a reference built by hand (per-word char CNN, an ``nn.LSTM`` with copied weights run on
each sentence alone), padding invariance, and decoding/loss against brute force."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from nlptag.models.crf import CRFHead
from nlptag.models.embeddings import CharBiLSTM, CharCNN, WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.models.heads import SoftmaxHead
from nlptag.models.tagger import TaggerNetwork

NUM_WORDS, NUM_CHARS = 9, 8
TAG_NAMES = ["A", "B", "C"]
# sentences of (word id, character ids); word 2 repeats with the same spelling in sentence 0
SENTENCES = [
    [(2, [2, 3, 4]), (3, [5]), (4, [6, 2]), (2, [2, 3, 4]), (5, [3, 3, 3, 7])],
    [(3, [5]), (6, [4, 7])],
    [(7, [2, 6, 5])],
    [(8, [7, 7]), (1, [4]), (4, [6, 2])],
]
GOLD = [[0, 2, 1, 1, 0], [2, 2], [1], [0, 0, 2]]  # gold tags of the real words


def char_features_factory(kind):
    return {
        "cnn": lambda n: CharCNN(n, char_dim=3, num_filters=4, kernel_size=3),
        "bilstm": lambda n: CharBiLSTM(n, char_dim=3, hidden_size=2),
        None: None,
    }[kind]


def tiny_tagger(
    head=SoftmaxHead,
    char_features="cnn",
    cell="lstm",
    num_layers=1,
    bidirectional=True,
    tag_names=TAG_NAMES,
    seed=0,
) -> TaggerNetwork:
    torch.manual_seed(seed)
    chars = char_features_factory(char_features)
    network = TaggerNetwork(
        num_words=NUM_WORDS,
        num_chars=NUM_CHARS,
        tag_names=tag_names,
        embedder=lambda w, c: WordEmbedder(
            w, c, word_dim=5, char_features=chars, dropout=0.0, word_dropout=0.0
        ),
        encoder=lambda e: RecurrentEncoder(
            e,
            cell=cell,
            hidden_size=3,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=0.0,
        ),
        head=head,
    )
    return network.eval()


def make_batch(sentences, gold=None, pad_tag=1):
    """words (B, T), chars (B, T, L), lengths (B,), mask (B, T) and tags (B, T) padded with
    ``pad_tag`` (a valid tag id, so that a loss which read padding would change)."""
    batch, time = len(sentences), max(len(s) for s in sentences)
    longest = max(len(chars) for s in sentences for _, chars in s)
    words = torch.zeros(batch, time, dtype=torch.long)
    chars = torch.zeros(batch, time, longest, dtype=torch.long)
    tags = torch.full((batch, time), pad_tag, dtype=torch.long)
    for b, sentence in enumerate(sentences):
        for t, (word, spelling) in enumerate(sentence):
            words[b, t] = word
            chars[b, t, : len(spelling)] = torch.tensor(spelling)
            if gold is not None:
                tags[b, t] = gold[b][t]
    lengths = torch.tensor([len(s) for s in sentences])
    mask = torch.arange(time) < lengths[:, None]
    return words, chars, lengths, mask, tags


def hand_features(network: TaggerNetwork, sentence) -> torch.Tensor:
    """Encoder features (T, F) of one sentence on its own, built without the package's code
    paths: embedding rows, a conv1d over each word's own characters, and a fresh ``nn.LSTM`` /
    ``nn.GRU`` with the encoder's weights run on the unpadded sentence."""
    embedder = network.embedder
    cnn = embedder.char_features
    rows = []
    for word, spelling in sentence:
        parts = [embedder.word_embedding.weight[word]]
        if cnn is not None:
            x = cnn.embedding.weight[torch.tensor(spelling)].T.unsqueeze(0)  # (1, D, l)
            conv = nn.functional.conv1d(x, cnn.conv.weight, cnn.conv.bias, padding=1)
            parts.append(conv[0].max(dim=1).values)  # max over the word's own characters
        rows.append(torch.cat(parts))
    inputs = torch.stack(rows).unsqueeze(0)  # (1, T, E)
    source = network.encoder.rnn
    kind = {nn.LSTM: nn.LSTM, nn.GRU: nn.GRU}[type(source)]
    reference = kind(
        source.input_size,
        source.hidden_size,
        num_layers=source.num_layers,
        bidirectional=source.bidirectional,
        batch_first=True,
    )
    reference.load_state_dict(source.state_dict())
    return reference(inputs)[0][0]


@pytest.mark.parametrize(
    ("cell", "num_layers", "bidirectional"), [("lstm", 2, True), ("gru", 1, False)]
)
def test_forward_and_scores_equal_the_hand_composition(cell, num_layers, bidirectional):
    network = tiny_tagger(cell=cell, num_layers=num_layers, bidirectional=bidirectional)
    words, chars, lengths, _, _ = make_batch(SENTENCES)
    with torch.no_grad():
        features = network(words, chars, lengths)
        scores = network.scores(words, chars, lengths)
        projection = network.head.projection
        assert features.shape == (4, 5, 3 * (2 if bidirectional else 1))
        for b, sentence in enumerate(SENTENCES):
            n = len(sentence)
            expected = hand_features(network, sentence)
            torch.testing.assert_close(features[b, :n], expected, atol=1e-5, rtol=1e-5)
            assert torch.count_nonzero(features[b, n:]) == 0  # 0 at padding
            torch.testing.assert_close(
                scores[b, :n], expected @ projection.weight.T + projection.bias, atol=1e-5, rtol=0
            )


@pytest.mark.parametrize("char_features", ["cnn", "bilstm", None])
@pytest.mark.parametrize("head", [SoftmaxHead, CRFHead])
def test_padding_never_changes_the_scores_of_real_words(char_features, head):
    network = tiny_tagger(head=head, char_features=char_features, num_layers=2)
    with torch.no_grad():
        short = SENTENCES[1]
        alone = make_batch([short])[:4]
        # batched after a longer sentence: padded by 3 positions and longer character rows
        batched = make_batch([SENTENCES[0], short])[:4]
        alone_scores = network.scores(*alone[:3])[0]
        batched_scores = network.scores(*batched[:3])[1]
        torch.testing.assert_close(batched_scores[:2], alone_scores, atol=1e-6, rtol=0)
        # and so the short sentence's tags and confidences do not change either
        alone_prediction = network.decode(*alone)
        batched_prediction = network.decode(*batched)
        assert batched_prediction.tags[1, :2].tolist() == alone_prediction.tags[0].tolist()
        torch.testing.assert_close(
            batched_prediction.confidences[1, :2],
            alone_prediction.confidences[0],
            atol=1e-6,
            rtol=0,
        )


def test_softmax_decode_is_the_argmax_and_its_probability():
    network = tiny_tagger(seed=3)
    words, chars, lengths, mask, _ = make_batch(SENTENCES)
    with torch.no_grad():
        scores = network.scores(words, chars, lengths)
        prediction = network.decode(words, chars, lengths, mask)
    for b, sentence in enumerate(SENTENCES):
        for t in range(scores.size(1)):
            if t >= len(sentence):  # padding: both 0
                assert prediction.tags[b, t].item() == 0
                assert prediction.confidences[b, t].item() == 0.0
                continue
            logits = scores[b, t].tolist()
            best = max(range(len(logits)), key=logits.__getitem__)
            probability = math.exp(logits[best]) / sum(math.exp(v) for v in logits)
            assert prediction.tags[b, t].item() == best
            assert prediction.confidences[b, t].item() == pytest.approx(probability, abs=1e-6)
            assert 1 / len(TAG_NAMES) <= probability <= 1.0


@pytest.mark.parametrize("head", [SoftmaxHead, CRFHead])
def test_decode_is_the_head_decoding_of_the_scores(head):
    """The ONNX split: scores computed elsewhere then decoded by the head give the same tags."""
    network = tiny_tagger(head=head, seed=4)
    words, chars, lengths, mask, _ = make_batch(SENTENCES)
    with torch.no_grad():
        direct = network.decode(words, chars, lengths, mask)
        split = network.head.decode_scores(network.scores(words, chars, lengths), mask)
    assert torch.equal(direct.tags, split.tags)
    torch.testing.assert_close(direct.confidences, split.confidences)


def test_softmax_loss_is_the_cross_entropy_of_the_real_words_only():
    network = tiny_tagger(seed=5)
    words, chars, lengths, mask, tags = make_batch(SENTENCES, GOLD, pad_tag=1)
    with torch.no_grad():
        scores = network.scores(words, chars, lengths).double()
        loss = network.head.loss(network(words, chars, lengths), tags, mask)
    terms = []
    for b, gold in enumerate(GOLD):
        for t, tag in enumerate(gold):
            logits = scores[b, t].tolist()
            terms.append(math.log(sum(math.exp(v) for v in logits)) - logits[tag])
    assert len(terms) == 11
    assert loss.item() == pytest.approx(sum(terms) / len(terms), abs=1e-6)
    # the padding tags (1) really would change the value if they were counted
    everything = nn.functional.cross_entropy(scores.flatten(0, 1), tags.flatten()).item()
    assert abs(everything - loss.item()) > 1e-3


def randomised_crf_tagger(seed: int, **kwargs) -> TaggerNetwork:
    network = tiny_tagger(head=CRFHead, seed=seed, **kwargs)
    with torch.no_grad():  # the CRF scores start at 0: make them matter
        for parameter in network.head.crf.parameters():
            parameter.normal_()
    return network


def brute_force(emissions: torch.Tensor, start, transitions, end):
    """{path: score} of every tag path of one sentence, emissions (T, C), term by term."""
    length, num_tags = emissions.shape
    scores = {}
    for path in itertools.product(range(num_tags), repeat=length):
        score = start[path[0]] + end[path[-1]]
        score += sum(emissions[t, y] for t, y in enumerate(path))
        score += sum(transitions[a, b] for a, b in zip(path, path[1:]))
        scores[path] = float(score)
    return scores


def test_crf_decode_is_the_brute_force_best_path_and_its_marginal():
    network = randomised_crf_tagger(seed=6)
    crf = network.head.crf
    words, chars, lengths, mask, _ = make_batch(SENTENCES)
    with torch.no_grad():
        emissions = network.scores(words, chars, lengths).double()
        prediction = network.decode(words, chars, lengths, mask)
        start, transitions, end = (p.double() for p in (crf.start, crf.transitions, crf.end))
    for b, sentence in enumerate(SENTENCES):
        n = len(sentence)
        paths = brute_force(emissions[b, :n], start, transitions, end)
        best = max(paths, key=paths.get)
        assert prediction.tags[b, :n].tolist() == list(best)
        assert prediction.tags[b, n:].tolist() == [0] * (5 - n)
        log_z = math.log(sum(math.exp(s) for s in paths.values()))
        for t, tag in enumerate(best):
            marginal = sum(math.exp(s - log_z) for p, s in paths.items() if p[t] == tag)
            assert prediction.confidences[b, t].item() == pytest.approx(marginal, abs=1e-5)
            assert 0.0 < marginal <= 1.0
        assert prediction.confidences[b, n:].tolist() == [0.0] * (5 - n)


def test_crf_loss_is_the_mean_brute_force_negative_log_likelihood():
    network = randomised_crf_tagger(seed=7)
    crf = network.head.crf
    words, chars, lengths, mask, tags = make_batch(SENTENCES, GOLD, pad_tag=2)
    with torch.no_grad():
        emissions = network.scores(words, chars, lengths).double()
        loss = network.head.loss(network(words, chars, lengths), tags, mask)
        start, transitions, end = (p.double() for p in (crf.start, crf.transitions, crf.end))
    nlls = []
    for b, gold in enumerate(GOLD):
        paths = brute_force(emissions[b, : len(gold)], start, transitions, end)
        log_z = math.log(sum(math.exp(s) for s in paths.values()))
        nlls.append(log_z - paths[tuple(gold)])
    assert loss.item() == pytest.approx(sum(nlls) / len(nlls), abs=1e-4)


def test_crf_scheme_constraints_shape_the_decoding():
    """iob2: I-PER may not start a sentence nor follow O. Emissions favour I-PER everywhere
    (0, 0.5, 5 for O, B-PER, I-PER); with the CRF's own scores at 0 the best well-formed path is
    B-PER then I-PER..., while the unconstrained CRF picks I-PER everywhere."""
    tags = ["O", "B-PER", "I-PER"]
    sentences = [SENTENCES[0], SENTENCES[1], SENTENCES[2]]
    words, chars, lengths, mask, _ = make_batch(sentences)
    decoded = {}
    for scheme in ("iob2", None):
        network = tiny_tagger(
            head=lambda f, names, s=scheme: CRFHead(f, names, scheme=s), tag_names=tags
        )
        with torch.no_grad():
            network.head.projection.weight.zero_()
            network.head.projection.bias.copy_(torch.tensor([0.0, 0.5, 5.0]))
            decoded[scheme] = network.decode(words, chars, lengths, mask)
    assert decoded["iob2"].tags.tolist() == [[1, 2, 2, 2, 2], [1, 2, 0, 0, 0], [1, 0, 0, 0, 0]]
    assert decoded[None].tags.tolist() == [[2, 2, 2, 2, 2], [2, 2, 0, 0, 0], [2, 0, 0, 0, 0]]
    # one word, iob2: O scores 0 and B-PER 0.5 (I-PER is forbidden), so p(B-PER) = sigmoid(0.5)
    sigmoid = 1 / (1 + math.exp(-0.5))
    assert decoded["iob2"].confidences[2, 0].item() == pytest.approx(sigmoid, abs=1e-5)
    # unconstrained, one word: softmax of (0, 0.5, 5) at I-PER
    softmax = math.exp(5) / (1 + math.exp(0.5) + math.exp(5))
    assert decoded[None].confidences[2, 0].item() == pytest.approx(softmax, abs=1e-5)


@pytest.mark.parametrize("head", [SoftmaxHead, CRFHead])
def test_the_loss_reaches_every_parameter(head):
    network = tiny_tagger(head=head, char_features="cnn", num_layers=2).train()
    words, chars, lengths, mask, tags = make_batch(SENTENCES, GOLD)
    network.head.loss(network(words, chars, lengths), tags, mask).backward()
    for name, parameter in network.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_defaults_and_placeholder_tags():
    names = ["X", "Y"]
    network = TaggerNetwork(num_words=5, num_chars=4, tag_names=names).eval()
    names.append("Z")  # the network keeps its own copy
    assert network.tag_names == ["X", "Y"]
    assert isinstance(network.head, SoftmaxHead) and network.head.projection.out_features == 2
    assert network.embedder.output_size == 100 + 50  # word_dim + CharCNN filters
    assert network.encoder.output_size == 2 * 256 and network.encoder.rnn.num_layers == 2
    placeholder = TaggerNetwork().eval()
    assert placeholder.tag_names == ["O"]
    words, chars, lengths, mask, _ = make_batch([[(1, [1]), (1, [1, 1])]])
    with torch.no_grad():
        prediction = placeholder.decode(words, chars, lengths, mask)
    # one tag: it is always chosen, with probability 1
    assert prediction.tags.tolist() == [[0, 0]]
    assert prediction.confidences.tolist() == [[1.0, 1.0]]
