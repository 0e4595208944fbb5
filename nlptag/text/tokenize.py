"""Tokenisation and word normalisation, shared by the data modules and the predictors."""

from __future__ import annotations

import re
from typing import Literal

Tokenizer = Literal["whitespace", "regex"]
_DIGIT = re.compile(r"\d")


def normalize_word(token: str, lowercase: bool = False, digits_to_zero: bool = False) -> str:
    """The form looked up in the word vocabulary (characters always see the raw token)."""
    if lowercase:
        token = token.lower()
    return _DIGIT.sub("0", token) if digits_to_zero else token


def tokenize(text: str, tokenizer: Tokenizer, pattern: str, lowercase: bool) -> list[str]:
    """Tokens of a text: split at whitespace, or every match of ``pattern`` (``regex``)."""
    if lowercase:
        text = text.lower()
    return text.split() if tokenizer == "whitespace" else re.findall(pattern, text)
