"""The tokenisation of the COCO caption evaluation (``pycocoevalcap``): Stanford CoreNLP 3.4.1's
``PTBTokenizer -preserveLines -lowerCase``, then the punctuation tokens dropped, reimplemented
in Python so that scoring needs no Java.

The rules are those of the PTB tokenizer that captions exercise: clitics split off (``dog 's``,
``ca n't``), punctuation split off except inside numbers (``1,000``, ``3.5``, ``3:30``) and words
(``well-known``, ``and/or``, ``u.s.``), brackets written ``-lrb-``/``-rrb-`` (which, lower-cased,
the COCO code does not drop), quotes as ````/``''``, and a sentence-final period split off.
``tests/metrics/test_ptb.py`` checks it against the Java tokenizer where Java is present.
"""

from __future__ import annotations

import re

PUNCTUATION = frozenset(
    [
        "''",
        "'",
        "``",
        "`",
        "-LRB-",
        "-RRB-",
        "-LCB-",
        "-RCB-",
        ".",
        "?",
        "!",
        ",",
        ":",
        "-",
        "--",
        "...",
        ";",
    ]
)
"""The tokens the COCO evaluation drops (its list; upper-case brackets never match after
lower-casing, so ``-lrb-`` stays)."""

_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_CLITICS = re.compile(r"^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$")
_CLITIC_WORDS = frozenset(["'s", "'re", "'ve", "'ll", "'d", "'m", "'"])
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr mt vs etc inc co corp ltd jan feb mar apr jun jul aug sep sept oct "
    "nov dec ave blvd no".split()
)
_SPLIT = re.compile(r"""(\.\.\.+|--+|[?!;()\[\]{}"`$%*&#@+=<>|~^]|\s+)""")


def _split_word(word: str, last: bool) -> list[str]:
    """One whitespace-delimited piece (no spaces, no always-split characters) -> tokens."""
    tokens: list[str] = []
    trailing: list[str] = []
    # leading quotes and hyphens
    while word and word[0] in "'-" and word not in _CLITIC_WORDS:
        if word.startswith("--"):
            tokens.append("--")
            word = word[2:]
        else:
            tokens.append("`" if word[0] == "'" else "-")
            word = word[1:]
    # trailing punctuation: commas, colons, periods, quotes, hyphens
    while word:
        if word[-1] in ",:":
            trailing.insert(0, word[-1])
            word = word[:-1]
        elif word[-1] == "'" and not word.endswith("n't"):
            trailing.insert(0, "'")
            word = word[:-1]
        elif word[-1] == "-":
            trailing.insert(0, "-")
            word = word[:-1]
        elif word[-1] == "." and last and not trailing and "." in word[:-1]:
            trailing.insert(0, ".")  # "d.c." at the end: the abbreviation, then the period
            break
        elif word[-1] == "." and (last and not trailing or _plain_period(word)):
            trailing.insert(0, ".")
            word = word[:-1]
        else:
            break
    if word:
        # inner commas and colons split unless between digits
        parts = re.split(r"(?<!\d)([,:])|([,:])(?!\d)", word)
        pieces = [p for p in parts if p]
        for piece in pieces:
            match = _CLITICS.match(piece)
            if match and piece not in ("'s",):
                tokens += [match.group(1), match.group(2)]
            elif piece == "cannot":
                tokens += ["can", "not"]
            else:
                tokens.append(piece)
    return tokens + trailing


def _plain_period(word: str) -> bool:
    """Whether a word's final period is punctuation rather than part of an abbreviation."""
    stem = word[:-1]
    if not stem or "." in stem:
        return False  # u.s. keeps its periods inside a sentence
    return stem not in _ABBREVIATIONS and not (len(stem) == 1 and stem.isalpha())


def ptb_tokens(text: str) -> list[str]:
    """PTB tokens of a caption, lower-cased, before punctuation is dropped."""
    text = text.lower().replace("\n", " ")
    pieces = [p for p in _SPLIT.split(text) if p and not p.isspace()]
    tokens: list[str] = []
    quote_open = False
    for i, piece in enumerate(pieces):
        if piece in _BRACKETS:
            tokens.append(_BRACKETS[piece])
        elif piece == '"':
            tokens.append("''" if quote_open else "``")
            quote_open = not quote_open
        elif (
            piece.startswith("...")
            or piece.startswith("--")
            or len(piece) == 1
            and not piece.isalnum()
            and piece not in "'.,:-"
        ):
            tokens.append(piece)
        else:
            tokens += _split_word(piece, last=i == len(pieces) - 1)
    return tokens


def tokenize_caption(text: str) -> list[str]:
    """The words of a caption as the COCO evaluation scores them: PTB tokens, lower-cased,
    punctuation dropped."""
    return [token for token in ptb_tokens(text) if token not in PUNCTUATION]
