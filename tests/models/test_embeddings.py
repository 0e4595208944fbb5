import pytest
import torch

from nlptag.models.embeddings import (
    CharBiLSTM,
    CharCNN,
    WordEmbedder,
    distinct_rows,
)
from nlptag.models.encoders import two_buckets
from nlptag.text.specials import UNK_ID


@pytest.mark.parametrize("features", [CharCNN, CharBiLSTM])
def test_char_features_ignore_padding(features):
    torch.manual_seed(0)
    module = features(10).eval()
    word = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[3, 4, 5, 0, 0], [0, 0, 0, 0, 0]])
    out = module(padded)
    assert out.shape == (2, module.output_size)
    assert torch.allclose(out[0], module(word)[0], atol=1e-6)
    assert not out[1].any()  # padding word -> zero features


def test_word_embedder_concatenates_word_and_char_features():
    torch.manual_seed(0)
    embedder = WordEmbedder(20, 10, word_dim=7, char_features=lambda n: CharCNN(n, num_filters=5))
    embedder.eval()
    assert embedder.output_size == 12
    words, chars = torch.tensor([[2, 3, 0]]), torch.tensor([[[2, 3], [4, 0], [0, 0]]])
    out = embedder(words, chars)
    assert out.shape == (1, 3, 12)
    # the word part is the lookup of each id's row (the padding row is 0), the rest the CNN's
    weight = embedder.word_embedding.weight
    assert torch.equal(out[0, :, :7], weight[[2, 3, 0]]) and not weight[0].any()
    torch.testing.assert_close(out[0, :, 7:], embedder.char_features(chars[0]))
    assert WordEmbedder(20, 10, word_dim=7, char_features=None).output_size == 7


def test_char_cnn_is_the_max_over_the_words_characters_of_the_convolution():
    """One-dimensional embeddings e and a width-3 filter w with bias b, set by hand: at each
    character position i, w0 e[i-1] + w1 e[i] + w2 e[i+1] + b (outside the word, e = 0, the
    padding embedding); the feature is the maximum over the word's own positions."""
    cnn = CharCNN(5, char_dim=1, num_filters=1, kernel_size=3)
    e = [0.0, 0.5, 1.0, -2.0, 3.0]
    w, b = [0.25, -1.0, 2.0], 0.125
    with torch.no_grad():
        cnn.embedding.weight.copy_(torch.tensor(e).unsqueeze(1))
        cnn.conv.weight.copy_(torch.tensor(w).view(1, 1, 3))
        cnn.conv.bias.fill_(b)

    def by_hand(word: list[int]) -> float:
        x = [0.0] + [e[c] for c in word] + [0.0]
        return max(w[0] * x[i] + w[1] * x[i + 1] + w[2] * x[i + 2] + b for i in range(len(word)))

    words = [[2, 3, 4, 1], [3, 4, 0, 0], [4, 0, 0, 0], [1, 1, 1, 0]]
    expected = [by_hand([c for c in word if c]) for word in words]
    assert expected == [8.375, 8.125, -2.875, 0.75]  # maxima at positions 1, 0, 0 and 1
    torch.testing.assert_close(cnn(torch.tensor(words)).squeeze(1), torch.tensor(expected))


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_char_cnn_table_lookups_equal_the_convolution_and_its_gradients(kernel_size, monkeypatch):
    """The table route is ``nn.Conv1d`` on the embedded characters, masked past each word's end,
    max-pooled: same features and same gradients for every parameter, <pad>'s row untouched;
    the ONNX-export route (the convolution itself) gives the same features."""
    torch.manual_seed(0)
    cnn = CharCNN(13, char_dim=6, num_filters=8, kernel_size=kernel_size)
    chars = torch.randint(1, 13, (11, 7))
    for row, length in enumerate([7, 1, 3, 0, 6, 2, 5, 4, 7, 1, 2]):
        chars[row, length:] = 0  # word 3 is padding
    weights = torch.randn(11, 8)

    def by_convolution() -> torch.Tensor:
        responses = cnn.conv(cnn.embedding(chars).transpose(1, 2))  # (B, F, L)
        features = responses.masked_fill(chars.eq(0).unsqueeze(1), float("-inf")).amax(dim=2)
        return features.masked_fill(features.isinf(), 0.0)

    expected = by_convolution()
    (expected * weights).sum().backward()
    expected_grads = [p.grad.clone() for p in cnn.parameters()]
    cnn.zero_grad()
    features = cnn(chars)
    (features * weights).sum().backward()
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-6)
    assert not features[3].any()
    for grad, parameter in zip(expected_grads, cnn.parameters()):
        torch.testing.assert_close(parameter.grad, grad, rtol=1e-5, atol=1e-5)
    assert not cnn.embedding.weight.grad[0].any()  # <pad>
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
    with torch.no_grad():
        torch.testing.assert_close(cnn(chars), expected, rtol=1e-5, atol=1e-6)


def test_word_dropout_replaces_exactly_the_drawn_positions():
    embedder = WordEmbedder(20, 10, word_dim=3, char_features=None, dropout=0.0, word_dropout=0.4)
    embedder.train()
    words = torch.tensor([[5, 6, 7, 8, 9, 0], [10, 11, 12, 0, 0, 0]])
    chars = torch.zeros(2, 6, 1, dtype=torch.long)
    torch.manual_seed(0)
    drawn = torch.rand(words.shape) < 0.4
    torch.manual_seed(0)
    out = embedder(words, chars)
    expected_ids = words.masked_fill(drawn & words.ne(0), UNK_ID)
    assert torch.equal(out, embedder.word_embedding.weight[expected_ids])
    replaced = drawn & words.ne(0)
    assert 0 < int(replaced.sum()) < int(words.ne(0).sum())  # some words kept, some dropped
    assert (drawn & words.eq(0)).any()  # a draw on padding that must not become <unk>


def test_word_dropout_only_in_training_and_never_on_padding():
    embedder = WordEmbedder(20, 10, char_features=None, dropout=0.0, word_dropout=1.0)
    words = torch.tensor([[5, 6, 0]])
    chars = torch.zeros(1, 3, 1, dtype=torch.long)
    weight = embedder.word_embedding.weight
    embedder.train()
    out = embedder(words, chars)
    assert torch.equal(out[0, 0], weight[UNK_ID]) and torch.equal(out[0, 1], weight[UNK_ID])
    assert not out[0, 2].any()
    embedder.eval()
    assert torch.equal(embedder(words, chars)[0, 0], weight[5])


@pytest.mark.parametrize("features", [CharCNN, CharBiLSTM])
def test_char_features_computed_once_per_spelling_equal_per_word(features):
    """Repeated words share one computation; outputs and gradients are those of the plain
    per-word computation."""
    torch.manual_seed(0)
    embedder = WordEmbedder(10, 12, word_dim=4, char_features=features, dropout=0.0)
    embedder.eval()
    chars = torch.tensor(
        [[[3, 4, 0], [5, 6, 7], [3, 4, 0]], [[5, 6, 7], [3, 4, 0], [0, 0, 0]]]
    )  # (B=2, T=3, L=3): "ab" three times, "cde" twice, one padding word
    words = torch.tensor([[2, 3, 2], [3, 2, 0]])
    deduplicated = embedder(words, chars)
    per_word = embedder.char_features(chars.reshape(6, 3)).reshape(2, 3, -1)
    torch.testing.assert_close(deduplicated[..., 4:], per_word)
    deduplicated.sum().backward()
    grads = [p.grad.clone() for p in embedder.char_features.parameters()]
    embedder.zero_grad()
    (embedder.word_embedding(words).sum() + per_word.sum()).backward()
    for grad, parameter in zip(grads, embedder.char_features.parameters()):
        torch.testing.assert_close(grad, parameter.grad)


def test_char_cnn_refuses_an_even_kernel_size_that_would_fail_in_forward():
    import pytest

    from nlptag.models.embeddings import CharCNN

    with pytest.raises(ValueError, match="kernel_size must be a positive odd number"):
        CharCNN(num_chars=10, kernel_size=4)


@pytest.mark.parametrize(
    "rows, ids",
    [
        (1, 1),  # one row
        (50, 2),  # few ids: many repeated rows
        (300, 80),  # a batch of spellings
        (40, 10**7),  # large ids: the columns need several re-rankings to stay in int64
    ],
)
@pytest.mark.parametrize("length", [1, 3, 30])
def test_distinct_rows_equal_torch_unique(rows, ids, length):
    generator = torch.Generator().manual_seed(rows * length)
    matrix = torch.randint(0, ids, (rows, length), generator=generator)
    matrix = torch.cat([matrix, matrix[: rows // 2].flip(0)])  # repeats, in another order
    distinct, inverse = distinct_rows(matrix)
    expected, expected_inverse = torch.unique(matrix, dim=0, return_inverse=True)
    assert torch.equal(distinct, expected)
    assert torch.equal(inverse, expected_inverse)


def test_distinct_rows_of_empty_matrices():
    distinct, inverse = distinct_rows(torch.zeros(0, 4, dtype=torch.long))
    assert distinct.shape == (0, 4) and inverse.shape == (0,)
    distinct, inverse = distinct_rows(torch.zeros(3, 0, dtype=torch.long))
    assert distinct.shape == (1, 0) and inverse.tolist() == [0, 0, 0]


def test_char_bilstm_padded_training_run_equals_the_packed_one():
    """While gradients are recorded the words run padded in two length buckets; their
    features and gradients equal the packed run's (which evaluation uses)."""
    torch.manual_seed(0)
    module = CharBiLSTM(30, char_dim=6, hidden_size=5)
    lengths = [1, 2, 2, 3, 3, 3, 4, 7, 9, 12, 0, 5]  # one empty word (padding)
    chars = torch.zeros(len(lengths), 12, dtype=torch.long)
    for row, length in enumerate(lengths):
        chars[row, :length] = torch.randint(1, 30, (length,))

    def run(packed: bool):
        module.zero_grad()
        if packed:
            present = chars.ne(0).sum(1).nonzero().squeeze(1)
            kept = chars[present].ne(0).sum(1)
            out = torch.zeros(len(lengths), 10).index_copy(
                0, present, module._final_states_packed(chars[present], kept)
            )
        else:
            out = module(chars)
        (out * torch.arange(10.0)).sum().backward()
        return out.detach(), [p.grad.clone() for p in module.parameters()]

    (padded, padded_grads), (packed, packed_grads) = run(False), run(True)
    torch.testing.assert_close(padded, packed, atol=1e-6, rtol=0)
    for ours, theirs in zip(padded_grads, packed_grads):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert not padded[10].any()
    with torch.no_grad():  # no gradients: the packed run
        torch.testing.assert_close(module(chars), packed, atol=1e-6, rtol=0)


@pytest.mark.parametrize("lengths", [[4], [1, 1, 1], [1, 2, 3, 9], [2, 2, 3, 3, 8, 8, 9]])
def test_two_buckets_split_where_the_padded_area_is_least(lengths):
    count = len(lengths)

    def area(split: int) -> int:
        return split * lengths[split - 1] + (count - split) * lengths[-1]

    split = two_buckets(torch.tensor(lengths))
    assert 1 <= split <= count
    assert area(split) == min(area(s) for s in range(1, count + 1))


def test_char_bilstm_padded_inference_equals_packed_and_is_timed_from_its_sample():
    from nlptag.models.encoders import fastest_inference_run

    torch.manual_seed(0)
    module = CharBiLSTM(30, char_dim=6, hidden_size=5).eval()
    (chars,) = module.timing_sample(words=50)
    assert chars.shape == (50, 16) and chars.ne(0).sum(1).min() >= 1
    chars = torch.cat([chars, torch.zeros(1, 16, dtype=torch.long)])  # and a padding word
    with torch.inference_mode():
        packed = module(chars)
        module.inference_run = "padded"
        padded = module(chars)
    torch.testing.assert_close(padded, packed, rtol=0, atol=1e-6)
    assert not padded[50].any()
    state = torch.random.get_rng_state()
    assert fastest_inference_run(module, *module.timing_sample(), repeats=1) in ("packed", "padded")
    assert module.inference_run == "padded" and torch.equal(torch.random.get_rng_state(), state)
