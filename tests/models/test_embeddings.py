import pytest
import torch

from nlptag.models.embeddings import CharBiLSTM, CharCNN, WordEmbedder
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
    embedder = WordEmbedder(20, 10, word_dim=7, char_features=lambda n: CharCNN(n, num_filters=5))
    assert embedder.output_size == 12
    out = embedder(torch.tensor([[2, 3]]), torch.tensor([[[2, 3], [4, 0]]]))
    assert out.shape == (1, 2, 12)
    assert WordEmbedder(20, 10, word_dim=7, char_features=None).output_size == 7


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
