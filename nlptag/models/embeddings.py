"""Word representations: word embeddings plus character-level features of each word.

Shape letters as in :mod:`nlptag.models`; a character model's batch ``B`` is a batch of words.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlptag.models.dropout import Dropout
from nlptag.models.encoders import (
    InferenceRun,
    direction_weights,
    length_buckets,
    reversal_rows,
    reverse_sequences,
    runs_padded,
)
from nlptag.text.specials import PAD_ID, UNK_ID


def distinct_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of a matrix of non-negative ids, and where each row went.

    Exact, like ``torch.unique(rows, dim=0, return_inverse=True)``, but built from a few 1-D
    ``torch.unique`` calls, which are much faster on the CPU than the row-wise one (that compares
    rows one pair at a time): columns are folded, as digits of base ``max + 1``, into the dense
    rank of each row's prefix, as many at a time as int64 holds, and the sum is re-ranked.

    Args:
        rows: ids (B, L) long, all >= 0 (the spellings of B words).

    Returns:
        ``(distinct, inverse)``: distinct (B', L), each distinct row once, in lexicographic
        order (as ``torch.unique`` gives them); inverse (B,) long with
        ``distinct[inverse] == rows``.
    """
    if rows.size(0) == 0 or rows.size(1) == 0:  # no rows, or all rows equal (empty)
        return rows[:1], rows.new_zeros(rows.size(0))
    bases = (rows.amax(dim=0) + 1).tolist()
    rank, count = rows.new_zeros(rows.size(0)), 1  # every row has the same (empty) prefix
    column = 0
    while column < rows.size(1):
        key, bound = rank, count
        while column < rows.size(1) and bound * bases[column] < 2**62:
            key = key * bases[column] + rows[:, column]
            bound *= bases[column]
            column += 1
        distinct_keys, rank = torch.unique(key, return_inverse=True)
        count = distinct_keys.numel()
    positions = torch.arange(rows.size(0), device=rows.device)
    first = torch.full((count,), rows.size(0), dtype=torch.long, device=rows.device)
    first.scatter_reduce_(0, rank, positions, reduce="amin")
    return rows.index_select(0, first), rank


class CharCNN(nn.Module):
    """Character CNN with max-pooling over the word (Ma & Hovy 2016).

    A convolution over character embeddings is a sum, over the kernel positions, of each
    filter's response to the character there. Since there are few characters, the CNN computes
    the (kernel positions, characters, filters) responses table from its weights once per call
    and looks each position's K rows up in one ``F.embedding_bag`` sum (:meth:`filter_responses`);
    forward + backward, this is 2.13 times as fast on a CPU (AVX2) as ``conv1d`` on the embedded
    words, forward alone 3.24 times (``benchmarks/kernel_choices``), and the same function: the
    parameters are an ``nn.Embedding`` and an ``nn.Conv1d``'s, and ONNX exports run the
    convolution itself.

    Args:
        num_chars: character vocabulary size, ``<pad>`` included (given by the word embedder).
        char_dim: size of the character embeddings.
        num_filters: number of convolution filters, the size of each word's feature vector
            (``output_size``).
        kernel_size: width of the convolution in characters, an odd number: the input is
            padded by ``kernel_size // 2`` on each side so that the output keeps the word's
            length (an even width breaks the masking in ``forward``).
    """

    def __init__(
        self, num_chars: int, char_dim: int = 30, num_filters: int = 50, kernel_size: int = 3
    ) -> None:
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"CharCNN kernel_size must be a positive odd number (got {kernel_size}): the "
                "padding keeps each word's length only for odd widths"
            )
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=PAD_ID)
        self.conv = nn.Conv1d(char_dim, num_filters, kernel_size, padding=kernel_size // 2)
        self.output_size = num_filters

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """Character features of each word.

        Args:
            chars: character ids (B, L) long of B words, padded with 0.

        Returns:
            Features (B, num_filters); all 0 for a word without characters (padding).
        """
        return self.pooled(self.filter_responses(chars))

    def pooled(self, responses: torch.Tensor) -> torch.Tensor:
        """Each word's features from its filter responses: max over positions, plus the bias.

        Args:
            responses: (B, L, num_filters) without the bias, -inf past each word's end.

        Returns:
            Features (B, num_filters); all 0 for a word without characters (padding).
        """
        features = responses.amax(dim=1)  # (B, num_filters), -inf: no characters
        if self.conv.bias is not None:
            features = features + self.conv.bias
        return features.masked_fill(features.isinf(), 0.0)

    def filter_responses(self, chars: torch.Tensor) -> torch.Tensor:
        """The convolution's output without its bias, -inf past each word's end.

        By table lookup (:meth:`responses_by_lookup`); by ``conv1d`` while exporting to ONNX
        (:meth:`responses_by_convolution`). Both give the same values and gradients, up to
        float rounding.

        Args:
            chars: character ids (B, L) long, padded with 0.

        Returns:
            Responses (B, L, num_filters); position l of word b is -inf where ``chars[b, l]``
            is padding.
        """
        if torch.onnx.is_in_onnx_export():
            return self.responses_by_convolution(chars)
        return self.responses_by_lookup(chars)

    def responses_by_convolution(self, chars: torch.Tensor) -> torch.Tensor:
        """:meth:`filter_responses` by ``conv1d`` on the embedded characters.

        Args:
            chars: character ids (B, L) long, padded with 0.

        Returns:
            Responses (B, L, num_filters), -inf past each word's end.
        """
        embedded = self.embedding(chars).transpose(1, 2)  # (B, char_dim, L)
        responses = F.conv1d(embedded, self.conv.weight, padding=self.conv.padding)
        past_end = chars.eq(PAD_ID).unsqueeze(2)
        return responses.transpose(1, 2).masked_fill(past_end, float("-inf"))

    def responses_by_lookup(self, chars: torch.Tensor) -> torch.Tensor:
        """:meth:`filter_responses` by table lookup.

        The (K, characters, filters) table of each filter's response to each character at each
        of its K positions comes from the weights; one ``F.embedding_bag`` sums each position's
        K rows, and a row of -inf marks positions past a word's end.

        Args:
            chars: character ids (B, L) long, padded with 0.

        Returns:
            Responses (B, L, num_filters), -inf past each word's end.
        """
        width, num_chars = self.conv.kernel_size[0], self.embedding.num_embeddings
        # every character embedded through the module, so <pad> (all 0) gets no gradient
        characters = self.embedding(torch.arange(num_chars, device=chars.device))
        table = torch.einsum("vc,fck->kvf", characters, self.conv.weight).flatten(0, 1)
        past_end_row = table.new_full((1, table.size(1)), float("-inf"))
        table = torch.cat([table, past_end_row])  # (width * V + 1, num_filters)
        half = width // 2
        windows = F.pad(chars, (half, half), value=PAD_ID).unfold(1, width, 1)  # (B, L, width)
        rows = windows + torch.arange(width, device=chars.device) * num_chars
        rows[..., half] = rows[..., half].masked_fill(chars.eq(PAD_ID), width * num_chars)
        responses = F.embedding_bag(rows.reshape(-1, width), table, mode="sum")
        return responses.view(*chars.shape, table.size(1))

    @torch.no_grad()
    def output_bound(self) -> float:
        """The largest magnitude any feature of any spelling can have.

        Each filter's bias plus, at every kernel position, its largest (or smallest) response
        to any character, or to the zero padding beside the word everywhere but the middle
        position, which is always a character of the word. An upper bound; for widths 1 and
        3, some spelling reaches the largest positive feature it allows.

        Returns:
            The bound, a float.
        """
        characters = torch.cat(  # every row but <pad>'s
            [self.embedding.weight[:PAD_ID], self.embedding.weight[PAD_ID + 1 :]]
        )
        responses = torch.einsum("fck,vc->fkv", self.conv.weight, characters)
        high, low = responses.amax(dim=2), responses.amin(dim=2)  # (num_filters, kernel_size)
        middle = self.conv.kernel_size[0] // 2
        side = torch.ones_like(high, dtype=torch.bool)
        side[:, middle] = False
        high = torch.where(side, high.clamp(min=0.0), high).sum(dim=1)  # (num_filters,)
        low = torch.where(side, low.clamp(max=0.0), low).sum(dim=1)
        if self.conv.bias is not None:
            high, low = high + self.conv.bias, low + self.conv.bias
        return float(torch.maximum(high.abs(), low.abs()).amax())


class CharBiLSTM(nn.Module):
    """Character BiLSTM; the word's feature is the concatenated final states (Lample et al. 2016).

    Two exact ways to run it, as :class:`~nlptag.models.encoders.RecurrentEncoder` has: while
    gradients are recorded, the words are split by length into two buckets (where their padded
    area is least) and each runs padded on the fused dense kernels, one direction at a time
    (the backward one on the words reversed in place), whose forward + backward is faster than
    the packed one; without gradients, the same when ``inference_run`` is ``"padded"`` (which
    is faster there depends on the CPU; predictors run padded unless told otherwise, and can
    time both, :func:`~nlptag.models.encoders.fastest_inference_run`); an int8 copy of ``lstm`` then
    runs its own ``run_padded``. Everything else runs packed, ONNX exports among them.

    Args:
        num_chars: character vocabulary size, ``<pad>`` included (given by the word embedder).
        char_dim: size of the character embeddings.
        hidden_size: LSTM hidden size per direction; each word's feature vector has
            ``2 * hidden_size`` values (``output_size``).
    """

    def __init__(self, num_chars: int, char_dim: int = 25, hidden_size: int = 25) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(char_dim, hidden_size, batch_first=True, bidirectional=True)
        self.output_size = 2 * hidden_size
        # the one-direction LSTM that runs each of lstm's directions padded (a plain list: no
        # submodule, nothing in the state dict)
        self._layer_rnns = [nn.LSTM(char_dim, hidden_size, batch_first=True)]
        self.inference_run: InferenceRun = "packed"

    def timing_sample(self, words: int = 320) -> tuple[torch.Tensor]:
        """Random spellings for :func:`~nlptag.models.encoders.fastest_inference_run`.

        Args:
            words: how many spellings B, of 1 to 16 characters (the distinct words of a batch
                of 32 sentences are about 320).

        Returns:
            A one-tuple of character ids (B, 16) long, padded with 0.
        """
        generator = torch.Generator().manual_seed(0)
        chars = torch.randint(1, self.embedding.num_embeddings, (words, 16), generator=generator)
        lengths = torch.randint(1, 17, (words, 1), generator=generator)
        return (chars.masked_fill(torch.arange(16) >= lengths, PAD_ID),)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """Character features of each word.

        Args:
            chars: character ids (B, L) long of B words, padded with 0.

        Returns:
            Features (B, 2 * hidden_size): the forward LSTM's state after the last character and
            the backward LSTM's after the first; all 0 for a word without characters (padding).
        """
        lengths = chars.ne(PAD_ID).sum(dim=1)
        present = lengths.nonzero().squeeze(1)  # (B',) words with characters
        if present.numel() == 0:
            return chars.new_zeros(chars.size(0), self.output_size, dtype=torch.float)
        kept = lengths.index_select(0, present)
        spellings = chars.index_select(0, present)
        if runs_padded(self.lstm, self.inference_run):
            final = self._final_states_padded(spellings, kept)
        else:
            final = self._final_states_packed(spellings, kept)
        return final.new_zeros(chars.size(0), self.output_size).index_copy(0, present, final)

    def _final_states(self, outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Both directions' final states from the outputs: (B', L', 2 * H) -> (B', 2 * H)."""
        # read from the outputs (forward: last character, backward: first), not from h_n, which
        # the ONNX exporter cannot take from a packed LSTM
        half = self.lstm.hidden_size
        rows = torch.arange(outputs.size(0), device=outputs.device)
        return torch.cat([outputs[rows, lengths - 1, :half], outputs[:, 0, half:]], dim=-1)

    def _final_states_packed(self, spellings: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Final states (B', 2 * H) of non-empty spellings (B', L), the LSTM run packed."""
        packed = pack_padded_sequence(
            self.embedding(spellings), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True)
        return self._final_states(outputs, lengths)

    def _final_states_padded(self, spellings: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Final states (B', 2 * H) of non-empty spellings (B', L), run padded in two buckets."""
        finals, order = [], []
        for rows, bucket_lengths in length_buckets(lengths):
            width = int(bucket_lengths[-1])
            embedded = self.embedding(spellings.index_select(0, rows)[:, :width])  # (B', L', E)
            finals.append(self._bucket_final_states(embedded, bucket_lengths))
            order.append(rows)
        return torch.cat(finals).index_select(0, torch.cat(order).argsort())

    def _bucket_final_states(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Final states (B', 2 * H) of one bucket's embedded characters (B', L', E), padded."""
        if type(self.lstm) is not nn.LSTM:  # an int8 copy, with its own padded run
            return self._final_states(self.lstm.run_padded(embedded, lengths), lengths)
        width, half = embedded.size(1), self.lstm.hidden_size
        flipped = reverse_sequences(embedded, reversal_rows(lengths, width))
        # each direction's final state is its output at the word's last character (the backward
        # one reads the word reversed), which padding, coming after, never reaches
        last = torch.arange(lengths.numel(), device=lengths.device) * width + lengths - 1
        states = [
            functional_call(self._layer_rnns[0], direction_weights(self.lstm, 0, suffix), (x,))[0]
            for suffix, x in (("", embedded), ("_reverse", flipped))
        ]
        return torch.cat([state.reshape(-1, half).index_select(0, last) for state in states], 1)

    def output_bound(self) -> float:
        """The largest magnitude of a feature: 1, as LSTM states never leave [-1, 1].

        Returns:
            1.0.
        """
        return 1.0

    @torch.no_grad()
    def rnn_input_bounds(self) -> dict[str, float]:
        """The LSTM, whose inputs are character embeddings: at most the table's largest value.

        Returns:
            ``{"lstm": bound}`` (see :meth:`WordEmbedder.rnn_input_bounds`).
        """
        return {"lstm": float(self.embedding.weight.abs().amax())}


CharFeatures = Callable[[int], nn.Module]
"""Builds a character feature module from the character vocabulary size."""


class WordEmbedder(nn.Module):
    """Word embedding concatenated with character features, with dropout and word dropout.

    The output size E (``output_size``) is ``word_dim`` plus the character features' size. Word
    dropout replaces a word id by the unknown id with probability ``word_dropout`` in training, so
    the model learns to lean on character features for rare words. Character features are computed
    once per distinct spelling in the batch (except while exporting to ONNX).

    Args:
        num_words: word vocabulary size, ``<pad>`` and ``<unk>`` included (given by the
            network).
        num_chars: character vocabulary size, ``<pad>`` and ``<unk>`` included (given by the
            network).
        word_dim: size of the word embeddings.
        char_features: builds the character feature module from ``num_chars``:
            :class:`CharCNN` (the default) or :class:`CharBiLSTM`; None uses word embeddings
            only.
        dropout: dropout probability on the concatenated word representation (0 disables it).
        word_dropout: probability, in training, of replacing a word by ``<unk>`` (0 disables
            it).
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
        self.dropout = Dropout(dropout)
        self.word_dropout = word_dropout
        char_size = self.char_features.output_size if self.char_features is not None else 0
        self.output_size = word_dim + char_size

    def forward(
        self,
        words: torch.Tensor,
        chars: torch.Tensor,
        char_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Word representations.

        Args:
            words: word ids (B, T) long, padded with 0.
            chars: character ids of every word (B, T, L) long, padded with 0.
            char_features: the character features of every word (B, T, F') already computed
                (a predictor computes them once per distinct spelling of its whole input, see
                :meth:`spelling_features`); None (the default) computes them from ``chars``.

        Returns:
            Word representations (B, T, E).
        """
        if self.training and self.word_dropout > 0:
            drop = torch.rand(words.shape, device=words.device) < self.word_dropout
            words = words.masked_fill(drop & words.ne(PAD_ID), UNK_ID)
        features = [self.word_embedding(words)]
        if char_features is not None:
            features.append(char_features)
        elif self.char_features is not None:
            batch, time, length = chars.shape
            spellings = chars.reshape(batch * time, length)
            if torch.onnx.is_in_onnx_export():
                char_features = self.char_features(spellings)
            else:  # words repeat within a batch: each distinct spelling is computed once
                unique, inverse = distinct_rows(spellings)
                char_features = self.char_features(unique).index_select(0, inverse)
            features.append(char_features.reshape(batch, time, -1))
        return self.dropout(torch.cat(features, dim=-1))

    def spelling_features(self, spellings: list[list[int]], group_size: int = 2048) -> torch.Tensor:
        """The character features of many spellings, each computed once.

        The spellings run in groups of equal length, so no group has padding (a character
        BiLSTM runs each as one dense block).

        Args:
            spellings: B' character id lists, each non-empty.
            group_size: at most this many spellings per call of the character module.

        Returns:
            Features (B' + 1, F'): row 0 all zeros (for padding), row ``i + 1`` the features of
            ``spellings[i]``.
        """
        if self.char_features is None:
            raise ValueError("spelling_features: this embedder has no character features")
        table = torch.zeros(len(spellings) + 1, self.char_features.output_size)
        by_length: dict[int, list[int]] = {}
        for index, spelling in enumerate(spellings):
            by_length.setdefault(len(spelling), []).append(index)
        for indices in by_length.values():
            for start in range(0, len(indices), group_size):
                rows = indices[start : start + group_size]
                chars = torch.tensor([spellings[i] for i in rows], dtype=torch.long)
                table[torch.tensor(rows) + 1] = self.char_features(chars)
        return table

    @torch.no_grad()
    def output_bound(self) -> float | None:
        """The largest magnitude any value of a word representation can have at inference.

        Returns:
            The bound, or None when the character features give none (no ``output_bound``).
        """
        bounds = [float(self.word_embedding.weight.abs().amax())]
        if self.char_features is not None:
            bounds.append(getattr(self.char_features, "output_bound", lambda: None)())
        return None if None in bounds else max(bounds)

    def rnn_input_bounds(self) -> dict[str, float]:
        """The recurrent layers inside (the character BiLSTM's) and their input bounds.

        What int8 inference needs to fix its ranges (:mod:`nlptag.inference.int8`).

        Returns:
            Submodule name -> the largest magnitude of the layer's input.
        """
        if self.char_features is None or not hasattr(self.char_features, "rnn_input_bounds"):
            return {}
        inner = self.char_features.rnn_input_bounds()
        return {f"char_features.{name}": bound for name, bound in inner.items()}
