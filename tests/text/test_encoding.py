"""nlptag/text/encoding.py: ids of sentences and texts, padded batches, subword ends; every
value pinned."""

import pytest
import torch

from nlptag.errors import NlptagError
from nlptag.text.encoding import (
    collate_classification,
    collate_tagging,
    collate_translation,
    decode_subwords,
    encode_sentence,
    encode_source,
    encode_target,
    encode_text,
)
from nlptag.text.vocabulary import Vocabulary

WORDS = Vocabulary(["<pad>", "<unk>", "the", "cat", "00", "Cat"])
CHARS = Vocabulary(["<pad>", "<unk>", "t", "h", "e", "c", "a", "C", "1", "9"])
TAGS = Vocabulary(["DET", "NOUN"], unk=None)


def test_encode_sentence_looks_words_up_normalised_and_characters_raw():
    encoded = encode_sentence(
        ["The", "Cat", "19", "dog"], WORDS, CHARS, 2, lowercase=True, digits_to_zero=True
    )
    assert encoded == {
        "word_ids": [2, 3, 4, 1],  # the, cat, 00, <unk>
        "char_ids": [[1, 3], [7, 6], [8, 9], [1, 1]],  # raw characters, cut to 2
        "tag_ids": [0, 0, 0, 0],
    }
    raw = encode_sentence(["Cat", "19"], WORDS, CHARS, 30)
    assert raw["word_ids"] == [5, 1] and raw["char_ids"] == [[7, 6, 2], [8, 9]]


def test_encode_sentence_with_tags_and_an_unknown_tag():
    encoded = encode_sentence(["the", "cat"], WORDS, CHARS, 30, ["DET", "NOUN"], TAGS)
    assert encoded["tag_ids"] == [0, 1]
    with pytest.raises(NlptagError, match="^tag 'VERB' does not occur in the training data$"):
        encode_sentence(["the", "cat"], WORDS, CHARS, 30, ["DET", "VERB"], TAGS)


def test_encode_text_cuts_the_text_and_its_words():
    encoded = encode_text(["the", "cat", "the"], WORDS, CHARS, 2, 1, index=7, label_id=1)
    assert encoded == {"word_ids": [2, 3], "char_ids": [[2], [5]], "label_id": 1, "index": 7}
    assert encode_text(["the"], WORDS, CHARS, None, 30)["word_ids"] == [2]
    assert encode_text([""], WORDS, CHARS, None, 30)["char_ids"] == [[1]]  # never empty


def test_collate_tagging_pads_with_zeros():
    a = {"word_ids": [2, 3, 4], "char_ids": [[2], [5, 6, 2], [8]], "tag_ids": [0, 1, 1]}
    b = {"word_ids": [5], "char_ids": [[7, 6]], "tag_ids": [1]}
    batch = collate_tagging([a, b])
    assert batch.words.tolist() == [[2, 3, 4], [5, 0, 0]]
    assert batch.chars.tolist() == [
        [[2, 0, 0], [5, 6, 2], [8, 0, 0]],
        [[7, 6, 0], [0, 0, 0], [0, 0, 0]],
    ]
    assert batch.tags.tolist() == [[0, 1, 1], [1, 0, 0]]
    assert batch.mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.lengths.tolist() == [3, 1]
    assert batch.chars.dtype == batch.words.dtype == torch.long


def test_collate_classification_keeps_labels_and_indices():
    texts = [encode_text(["cat"], WORDS, CHARS, None, 30, 4, 1)]
    texts.append(encode_text(["the", "the"], WORDS, CHARS, None, 30, 2, 0))
    batch = collate_classification(texts)
    assert batch.words.tolist() == [[3, 0], [2, 2]]
    assert batch.labels.tolist() == [1, 0] and batch.index.tolist() == [4, 2]
    assert batch.lengths.tolist() == [1, 2] and batch.chars.shape == (2, 2, 3)


def test_collate_translation_pads_both_sides_and_keeps_references():
    examples = [
        {"source": [5, 6, 3], "target": [2, 7, 3], "index": 1, "reference": "x"},
        {"source": [5, 3], "target": [2, 8, 9, 3], "index": 0, "reference": "y z"},
    ]
    batch = collate_translation(examples)
    assert batch.source.tolist() == [[5, 6, 3], [5, 3, 0]]
    assert batch.target.tolist() == [[2, 7, 3, 0], [2, 8, 9, 3]]
    assert batch.source_lengths.tolist() == [3, 2] and batch.target_lengths.tolist() == [3, 4]
    assert batch.index.tolist() == [1, 0] and batch.references == ("x", "y z")
    predicting = collate_translation([{"source": [4, 3], "target": [], "index": 0}])
    assert predicting.target.shape == (1, 0) and predicting.references == ("",)


@pytest.fixture(scope="module")
def subwords():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    vocabulary = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3, "a": 4, "b": 5}
    tokenizer = Tokenizer(WordLevel(vocabulary, unk_token="<unk>"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.add_special_tokens(["<pad>", "<unk>", "<s>", "</s>"])
    return tokenizer


def test_subword_ends(subwords):
    assert encode_source(subwords, "a b q") == [4, 5, 1, 3]
    assert encode_target(subwords, "b a") == [2, 5, 4, 3]
    # stops at the first </s>; <s>, <pad> and <unk> are not written
    assert decode_subwords(subwords, [2, 4, 1, 5, 0, 3, 4, 4]) == "a b"
    assert decode_subwords(subwords, torch.tensor([5, 5])) == "b b"
