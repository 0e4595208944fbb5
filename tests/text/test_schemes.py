import itertools

import pytest
import torch

from nlptag.text.schemes import (
    PREFIXES,
    allowed_transitions,
    convert_tags,
    extract_chunks,
    tags_of_chunks,
)

# One sentence in the three schemes: PER PER (adjacent) O LOC-LOC O ORG
SENTENCE = {
    "iob1": ["I-PER", "B-PER", "O", "I-LOC", "I-LOC", "O", "I-ORG"],
    "iob2": ["B-PER", "B-PER", "O", "B-LOC", "I-LOC", "O", "B-ORG"],
    "iobes": ["S-PER", "S-PER", "O", "B-LOC", "E-LOC", "O", "S-ORG"],
}


@pytest.mark.parametrize(("source", "target"), itertools.product(SENTENCE, SENTENCE))
def test_convert_between_all_schemes(source: str, target: str) -> None:
    assert convert_tags(SENTENCE[source], source, target) == SENTENCE[target]


@pytest.mark.parametrize(
    ("tags", "source", "iob2"),
    [
        (["O", "I-PER", "I-PER"], "iob2", ["O", "B-PER", "I-PER"]),  # I-X after O opens a chunk
        (["B-PER", "I-LOC"], "iob2", ["B-PER", "B-LOC"]),  # a type change closes one
        (["B-PER", "E-LOC", "E-LOC"], "iobes", ["B-PER", "B-LOC", "B-LOC"]),
        (["E-PER", "I-PER", "S-PER", "B-PER"], "iobes", ["B-PER", "B-PER", "B-PER", "B-PER"]),
        (["B-PER", "I-PER", "O"], "iobes", ["B-PER", "I-PER", "O"]),  # B without E still ends
        (["I-PER", "B-LOC", "I-LOC"], "iob1", ["B-PER", "B-LOC", "I-LOC"]),
    ],
)
def test_ill_formed_input_is_read_like_conlleval(tags: list, source: str, iob2: list) -> None:
    assert convert_tags(tags, source, "iob2") == iob2
    assert extract_chunks(iob2) == extract_chunks(tags)


def test_tags_outside_the_scheme_raise() -> None:
    with pytest.raises(ValueError, match="'S-PER' is not in scheme iob2"):
        convert_tags(["O", "S-PER"], "iob2", "iobes")
    with pytest.raises(ValueError, match="'<pad>'"):
        allowed_transitions(["<pad>", "O", "B-PER"], "iobes")
    with pytest.raises(ValueError, match="'B-'"):
        allowed_transitions(["O", "B-"], "iob2")
    with pytest.raises(ValueError, match="unknown tag scheme 'bio'"):
        convert_tags(["O"], "iob2", "bio")


def test_allowed_transitions_iob2() -> None:
    start, trans, end = allowed_transitions(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], "iob2")
    assert start.tolist() == [True, True, False, True, False]
    assert end.tolist() == [True] * 5
    assert trans.int().tolist() == [  # [from, to]; I-X only after B-X or I-X
        [1, 1, 0, 1, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 0, 1, 1],
        [1, 1, 0, 1, 1],
    ]


def test_allowed_transitions_iob1() -> None:
    start, trans, end = allowed_transitions(["O", "I-PER", "B-PER", "I-LOC", "B-LOC"], "iob1")
    assert start.tolist() == [True, True, False, True, False]
    assert end.tolist() == [True] * 5
    assert trans.int().tolist() == [  # B-X only right after an X chunk
        [1, 1, 0, 1, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 0],
        [1, 1, 0, 1, 1],
        [1, 1, 0, 1, 1],
    ]


def test_allowed_transitions_iobes() -> None:
    names = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
    start, trans, end = allowed_transitions(names, "iobes")
    assert start.tolist() == [True, True, False, False, True, True, False, False, True]
    assert end.tolist() == [True, False, False, True, True, False, False, True, True]
    closed = [1, 1, 0, 0, 1, 1, 0, 0, 1]  # after O, E-X, S-X: O, B-Y or S-Y
    assert trans.int().tolist() == [
        closed,
        [0, 0, 1, 1, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 0, 0, 0, 0, 0],
        closed,
        closed,
        [0, 0, 0, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 1, 1, 0],
        closed,
        closed,
    ]


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "iobes"])
def test_allowed_paths_are_exactly_the_well_formed_ones(scheme: str) -> None:
    """A path passes the constraints iff converting it to its own scheme leaves it unchanged."""
    names = ["O", "B-A", "I-A", "B-B", "I-B"] + (["E-A", "S-A"] if scheme == "iobes" else [])
    start, trans, end = allowed_transitions(names, scheme)
    for path in itertools.product(range(len(names)), repeat=3):
        allowed = start[path[0]] and end[path[-1]] and trans[path[:-1], path[1:]].all()
        tags = [names[i] for i in path]
        assert bool(allowed) == (convert_tags(tags, scheme, scheme) == tags), tags
    assert start.dtype == trans.dtype == end.dtype == torch.bool


@pytest.mark.parametrize("source", ["iob1", "iob2", "iobes"])
def test_tags_of_chunks_keep_every_sequences_chunks(source: str) -> None:
    """Every sequence of up to 4 tags of two types, ill-formed ones included: the tags rebuilt
    from its chunks in any scheme have exactly its chunks (what EntityPredictor relies on)."""
    names = ["O"] + [f"{p}-{t}" for t in ("A", "B") for p in sorted(PREFIXES[source])]
    for length in range(1, 5):
        for tags in itertools.product(names, repeat=length):
            chunks = extract_chunks(list(tags))
            for target in ("iob1", "iob2", "iobes"):
                rebuilt = tags_of_chunks(chunks, length, target)
                assert rebuilt == convert_tags(list(tags), source, target)
                assert extract_chunks(rebuilt) == chunks, (tags, target, rebuilt)
