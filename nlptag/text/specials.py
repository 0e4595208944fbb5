"""The special tokens and their ids: the one definition every vocabulary, tokenizer, network and
search uses. Word, character, label and subword vocabularies all start with them in this order,
so ``<pad>`` is 0 and ``<unk>`` is 1 everywhere; subword vocabularies add ``<s>`` and ``</s>``.
"""

from __future__ import annotations

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
WORD_SPECIALS = (PAD, UNK)
"""The specials of word and character vocabularies, in id order."""
SUBWORD_SPECIALS = (PAD, UNK, BOS, EOS)
"""The specials of subword (translation) vocabularies, in id order."""
