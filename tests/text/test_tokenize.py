from nlptag.text.tokenize import normalize_word, tokenize


def test_normalize_word_is_the_identity_by_default():
    assert normalize_word("Born1984") == "Born1984"


def test_normalize_word_lowercases_and_zeroes_every_digit():
    assert normalize_word("Born1984", lowercase=True) == "born1984"
    assert normalize_word("Born1984", digits_to_zero=True) == "Born0000"
    assert normalize_word("AB-12.5", lowercase=True, digits_to_zero=True) == "ab-00.0"


def test_whitespace_tokenizer_ignores_the_pattern():
    assert tokenize(" Isn't\tit\n GREAT?! ", "whitespace", r"\w+", False) == [
        "Isn't",
        "it",
        "GREAT?!",
    ]


def test_regex_tokenizer_returns_every_match_after_lowercasing():
    assert tokenize("Isn't it GREAT?!", "regex", r"\w+|[^\w\s]", True) == [
        "isn",
        "'",
        "t",
        "it",
        "great",
        "?",
        "!",
    ]
    assert tokenize("Isn't it", "regex", r"[A-Z]\w*", False) == ["Isn"]
