"""Word representations: word embeddings plus character-level features of each word.

Shapes: ``B`` batch, ``T`` words per sentence, ``L`` characters per word, ``E`` output size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlptag.text.specials import PAD_ID, UNK_ID


class CharCNN(nn.Module):
    """Character CNN with max-pooling over the word (Ma & Hovy 2016).

    Input chars (N, L) long with padding 0; output (N, num_filters).
    """

    def __init__(
        self, num_chars: int, char_dim: int = 30, num_filters: int = 50, kernel_size: int = 3
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=PAD_ID)
        self.conv = nn.Conv1d(char_dim, num_filters, kernel_size, padding=kernel_size // 2)
        self.output_size = num_filters

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        mask = chars.ne(PAD_ID).unsqueeze(1)  # (N, 1, L)
        features = self.conv(self.embedding(chars).transpose(1, 2))  # (N, F, L)
        features = features.masked_fill(~mask, float("-inf")).amax(dim=2)
        return features.masked_fill(features.isinf(), 0.0)  # words with no characters (padding)


class CharBiLSTM(nn.Module):
    """Character BiLSTM; the word's feature is the concatenated final states (Lample et al. 2016).

    Input chars (N, L) long with padding 0; output (N, 2 * hidden_size).
    """

    def __init__(self, num_chars: int, char_dim: int = 25, hidden_size: int = 25) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(char_dim, hidden_size, batch_first=True, bidirectional=True)
        self.output_size = 2 * hidden_size

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        lengths = chars.ne(PAD_ID).sum(dim=1)
        present = lengths.nonzero().squeeze(1)  # (N',) words with characters
        if present.numel() == 0:
            return chars.new_zeros(chars.size(0), self.output_size, dtype=torch.float)
        kept = lengths.index_select(0, present)
        packed = pack_padded_sequence(
            self.embedding(chars.index_select(0, present)),
            kept.cpu(),
            batch_first=True,
            enforce_sorted=False,
        )
        # the final states read from the outputs (forward: last character, backward: first),
        # not from h_n, which the ONNX exporter cannot take from a packed LSTM
        outputs, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True)  # (N', L', 2H)
        half = self.lstm.hidden_size
        rows = torch.arange(outputs.size(0), device=chars.device)
        final = torch.cat([outputs[rows, kept - 1, :half], outputs[:, 0, half:]], dim=-1)
        return final.new_zeros(chars.size(0), self.output_size).index_copy(0, present, final)


CharFeatures = Callable[[int], nn.Module]
"""Builds a character feature module from the character vocabulary size."""


class WordEmbedder(nn.Module):
    """Word embedding concatenated with character features, with dropout and word dropout.

    words (B, T) long, chars (B, T, L) long -> (B, T, E) with E = word_dim + char features size.
    Word dropout replaces a word id by the unknown id with probability ``word_dropout`` in training,
    so the model learns to lean on character features for rare words. Character features are
    computed once per distinct spelling in the batch (except while exporting to ONNX).
    """

    def __init__(
        self,
        num_words: int,
        num_chars: int,
        word_dim: int = 100,
        char_features: CharFeatures | None = CharCNN,
        dropout: float = 0.5,
        word_dropout: float = 0.05,
    ) -> None:
        super().__init__()
        self.word_embedding = nn.Embedding(num_words, word_dim, padding_idx=PAD_ID)
        self.char_features = char_features(num_chars) if char_features is not None else None
        self.dropout = nn.Dropout(dropout)
        self.word_dropout = word_dropout
        char_size = self.char_features.output_size if self.char_features is not None else 0
        self.output_size = word_dim + char_size

    def forward(self, words: torch.Tensor, chars: torch.Tensor) -> torch.Tensor:
        if self.training and self.word_dropout > 0:
            drop = torch.rand(words.shape, device=words.device) < self.word_dropout
            words = words.masked_fill(drop & words.ne(PAD_ID), UNK_ID)
        features = [self.word_embedding(words)]
        if self.char_features is not None:
            batch, time, length = chars.shape
            spellings = chars.reshape(batch * time, length)
            if torch.onnx.is_in_onnx_export():
                char_features = self.char_features(spellings)
            else:  # words repeat within a batch: each distinct spelling is computed once
                unique, inverse = torch.unique(spellings, dim=0, return_inverse=True)
                char_features = self.char_features(unique).index_select(0, inverse)
            features.append(char_features.reshape(batch, time, -1))
        return self.dropout(torch.cat(features, dim=-1))
