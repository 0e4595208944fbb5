"""Chunk tag schemes IOB1, IOB2 (BIO) and IOBES: chunk extraction as conlleval reads it,
conversion, and the transitions a CRF may allow.

- ``iob1``: ``I-X`` inside chunks; ``B-X`` only opens a chunk right after another ``X`` chunk.
- ``iob2``: every chunk opens with ``B-X``, continues with ``I-X``.
- ``iobes``: ``S-X`` for one-token chunks, otherwise ``B-X I-X ... E-X``.

``C`` is the number of tags.

Chunk boundaries follow conlleval's ``startOfChunk`` and
``endOfChunk`` (version 2004-01-26), which read IOB1, IOB2 and IOE alike; an ``I-X`` after ``O``
opens a chunk and a type change closes one. The plain script has no rules for ``S`` and ends no
chunk between ``E`` and ``B``, so it merges IOBES chunks; we add the rules of the common IOBES
extension of conlleval (``S`` is a chunk of its own, ``E`` and ``S`` close the chunk before any
``B``/``I``/``E``/``S``). They change nothing for sequences with no ``S`` and no ``E`` followed by
``B``.
"""

from __future__ import annotations

from typing import Literal

import torch

Scheme = Literal["iob1", "iob2", "iobes"]

IN_CHUNK = {"B", "I"}
CLOSED = {"E", "S"}  # IOBES extension: a chunk always ends after these
OPENS = {"B", "S"}  # a chunk always starts at these (after O, B, I, E or S)


def split_tag(tag: str) -> tuple[str, str]:
    """Split at the first hyphen: ``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``."""
    prefix, _, type_ = tag.partition("-")
    return prefix, type_


def end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """Whether a chunk ended between the previous and the current token (conlleval's rule)."""
    return (
        (prev_tag in IN_CHUNK and tag in {"B", "S", "O"})
        or (prev_tag in CLOSED and tag in {"B", "I", "E", "S", "O"})
        or (prev_tag not in {"O", "."} and prev_type != type_)
        or prev_tag in {"[", "]"}
    )


def start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """Whether a chunk started between the previous and the current token (conlleval's rule)."""
    return (
        (tag in OPENS and prev_tag in {"B", "I", "O", "E", "S"})
        or (tag == "I" and prev_tag in {"O", "E", "S"})
        or (tag == "E" and prev_tag in {"O", "E", "S"})
        or (tag not in {"O", "."} and prev_type != type_)
        or tag in {"[", "]"}
    )


def extract_chunks(tags: list[str]) -> list[tuple[str, int, int]]:
    """The chunks conlleval reads in one sentence, as ``(type, start, end)`` with ``end`` exclusive.

    Example: ``["B-PER", "I-PER", "O", "I-LOC"]`` -> ``[("PER", 0, 2), ("LOC", 3, 4)]``.
    """
    chunks: list[tuple[str, int, int]] = []
    current: tuple[str, int] | None = None  # type and start of the open chunk
    prev_tag, prev_type = "O", ""
    for i, (tag, type_) in enumerate(map(split_tag, [*tags, "O"])):
        starts = start_of_chunk(prev_tag, tag, prev_type, type_)
        if current and (starts or end_of_chunk(prev_tag, tag, prev_type, type_)):
            chunks.append((*current, i))
            current = None
        if starts:
            current = (type_, i)
        prev_tag, prev_type = tag, type_
    return chunks


PREFIXES: dict[str, set[str]] = {
    "iob1": {"B", "I"},
    "iob2": {"B", "I"},
    "iobes": {"B", "I", "E", "S"},
}
NO_START: dict[str, set[str]] = {"iob1": {"B"}, "iob2": {"I"}, "iobes": {"I", "E"}}


def _parse(tags: list[str], scheme: Scheme) -> list[tuple[str, str]]:
    """``(prefix, type)`` per tag; raises ``ValueError`` naming a tag outside the scheme."""
    if scheme not in PREFIXES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {sorted(PREFIXES)}")
    parsed = [split_tag(tag) for tag in tags]
    for tag, (prefix, type_) in zip(tags, parsed, strict=True):
        if tag != "O" and (prefix not in PREFIXES[scheme] or not type_):
            allowed = ", ".join(f"{p}-TYPE" for p in sorted(PREFIXES[scheme]))
            raise ValueError(f"tag {tag!r} is not in scheme {scheme} (O, {allowed})")
    return parsed


def convert_tags(tags: list[str], source: Scheme, target: Scheme) -> list[str]:
    """Re-tag one sentence from ``source`` to ``target`` through its chunks.

    Chunks are read as conlleval reads them (:func:`nlptag.metrics.extract_chunks`), so ill-formed
    input such as ``I-X`` after ``O`` or a type change inside a chunk comes out well formed.
    Example: ``convert_tags(["I-PER", "I-PER", "B-PER"], "iob1", "iobes")``
    -> ``["B-PER", "E-PER", "S-PER"]``.
    """
    _parse(tags, source)
    return tags_of_chunks(extract_chunks(tags), len(tags), target)


def tags_of_chunks(chunks: list[tuple[str, int, int]], length: int, target: Scheme) -> list[str]:
    """The tags of one sentence of ``length`` tokens in scheme ``target`` that make exactly
    ``chunks`` (``(type, start, end)``, end exclusive, in order, as :func:`extract_chunks`
    gives them). Example: ``tags_of_chunks([("PER", 0, 2)], 3, "iobes")``
    -> ``["B-PER", "E-PER", "O"]``.
    """
    _parse([], target)
    out = ["O"] * length
    previous: tuple[str, int] | None = None  # type and end of the previous chunk
    for type_, start, end in chunks:
        out[start:end] = [f"I-{type_}"] * (end - start)
        if target == "iobes":
            out[start], out[end - 1] = f"B-{type_}", f"E-{type_}"
            if end - start == 1:
                out[start] = f"S-{type_}"
        elif target == "iob2" or previous == (type_, start):
            out[start] = f"B-{type_}"
        previous = (type_, end)
    return out


def allowed_transitions(
    tag_names: list[str], scheme: Scheme
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CRF hard constraints: allowed start tags (C,), transitions [from, to] (C, C), end tags (C,).

    iob1: a sentence cannot start with ``B-X``, and ``B-X`` only follows ``B-X`` or ``I-X``.
    iob2: ``I-X`` only follows ``B-X`` or ``I-X``.
    iobes: ``I-X``/``E-X`` only follow ``B-X``/``I-X``, which must be followed by one of them.
    """
    parsed = _parse(tag_names, scheme)
    prefix = [p for p, _ in parsed]
    types = [t for _, t in parsed]
    num_tags = len(tag_names)
    start = torch.tensor([p not in NO_START[scheme] for p in prefix], dtype=torch.bool)
    end = torch.tensor([scheme != "iobes" or p not in {"B", "I"} for p in prefix], dtype=torch.bool)
    trans = torch.ones(num_tags, num_tags, dtype=torch.bool)
    for j in range(num_tags):
        for i in range(num_tags):
            same_chunk = types[i] == types[j] and prefix[i] in {"B", "I"}
            if scheme == "iob1" and prefix[j] == "B":
                trans[i, j] = same_chunk
            elif scheme == "iob2" and prefix[j] == "I":
                trans[i, j] = same_chunk
            elif scheme == "iobes":
                # in an open chunk only its I-X/E-X may follow; after O, E or S anything but those
                continues = prefix[j] in {"I", "E"}
                trans[i, j] = same_chunk and continues if prefix[i] in {"B", "I"} else not continues
    return start, trans, end
