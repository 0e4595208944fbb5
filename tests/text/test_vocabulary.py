import pytest

from nlptag.text.vocabulary import PAD, UNK, Vocabulary


def test_specials_first_then_by_frequency_with_min_freq():
    vocabulary = Vocabulary.build(["b", "a", "b", "c", "b", "a"], min_freq=2)
    assert vocabulary.entries == [PAD, UNK, "b", "a"]
    assert vocabulary.ids(["a", "zzz", "b"]) == [3, 1, 2]
    assert vocabulary.lookup([2, 3]) == ["b", "a"]


def test_without_unk_unknown_entries_raise():
    tags = Vocabulary.build(["X", "Y", "X"], specials=(), unk=None)
    assert tags.entries == ["X", "Y"]
    with pytest.raises(KeyError, match="'Z'"):
        tags.id("Z")


def test_entries_must_be_unique():
    with pytest.raises(ValueError):
        Vocabulary([PAD, UNK, "a", "a"])
