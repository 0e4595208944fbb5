"""Vocabularies mapping strings to ids, stored as plain lists so checkpoints stay safe to load."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from nlptag.text.specials import PAD, UNK, WORD_SPECIALS

__all__ = ["PAD", "UNK", "Vocabulary"]


class Vocabulary:
    """An ordered list of entries; specials come first, so their ids are fixed (``<pad>`` = 0).

    With ``unk`` set, unknown entries map to its id; without it, they raise ``KeyError``.
    """

    def __init__(self, entries: list[str], unk: str | None = UNK) -> None:
        self.entries = list(entries)
        self.index = {entry: i for i, entry in enumerate(self.entries)}
        if len(self.index) != len(self.entries):
            raise ValueError("vocabulary entries must be unique")
        self.unk_id = self.index[unk] if unk is not None else None

    @classmethod
    def build(
        cls,
        items: Iterable[str],
        min_freq: int = 1,
        specials: tuple[str, ...] = WORD_SPECIALS,
        unk: str | None = UNK,
    ) -> Vocabulary:
        """Specials, then items seen at least ``min_freq`` times, most frequent first (ties by
        first appearance, so the result is deterministic)."""
        counts = Counter(items)
        kept = [item for item, count in counts.most_common() if count >= min_freq]
        return cls(list(specials) + [item for item in kept if item not in specials], unk=unk)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, entry: str) -> bool:
        return entry in self.index

    def id(self, entry: str) -> int:
        found = self.index.get(entry, self.unk_id)
        if found is None:
            raise KeyError(f"{entry!r} is not in the vocabulary")
        return found

    def ids(self, entries: Iterable[str]) -> list[int]:
        if self.unk_id is None:  # an unknown entry is an error: ``id`` says which
            return [self.id(entry) for entry in entries]
        index, unk_id = self.index, self.unk_id
        return [index.get(entry, unk_id) for entry in entries]

    def lookup(self, ids: Iterable[int]) -> list[str]:
        return [self.entries[i] for i in ids]
