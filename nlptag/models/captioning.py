"""Caption decoders over frozen image features, and the captioning network that composes one.

Three ways for the image to reach the words, one module each:

- :class:`ShowAndTellDecoder` (Vinyals et al. 2015): the image vector ``v`` projected into the
  first input (or the first hidden state); the words never see the image again.
- :class:`ImageEveryStepDecoder`: ``v`` fed into every step, the lecture formula
  ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + W_ih v)``. The cell reads ``[x_t; v]``, so for the
  ``rnn`` cell its input weights are exactly ``[W_xh  W_ih]``; LSTM and GRU add ``W v`` to every
  gate the same way.
- :class:`SoftAttentionDecoder` (Xu et al. 2015, Show, Attend and Tell): soft attention over
  the R grid regions at every step, with the gate ``beta`` and the first state from the mean of
  the grid; the task adds the doubly stochastic attention penalty.

All three share one step interface (``prepare``, ``step``, ``logits``), the one
:mod:`nlptag.models.search` drives, so greedy, beam search and sampling work for each.

Shapes: ``B`` images, ``R`` regions (49), ``K`` feature size (1280), ``T`` caption length,
``E`` word embedding size, ``H`` hidden size, ``V`` vocabulary size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from nlptag.models.attention import AdditiveAttention, AttentionFactory
from nlptag.models.encoders import build_rnn
from nlptag.text.specials import PAD_ID

CaptionCell = Literal["rnn", "lstm", "gru"]
Hidden = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass
class CaptionState:
    """The recurrent state (1, B, H) of a fused RNN or (B, H) of a cell, or an (h, c) pair for
    LSTMs."""

    hidden: Hidden

    def select(self, index: torch.Tensor) -> CaptionState:
        """The state of the batch rows ``index`` (beam expansion and reordering); the batch is
        the second-to-last dimension, for fused RNN states (1, B, H) and cell states (B, H)."""
        if isinstance(self.hidden, tuple):
            return CaptionState(tuple(part.index_select(-2, index) for part in self.hidden))
        return CaptionState(self.hidden.index_select(-2, index))


@dataclass
class ImageMemory:
    """What the decoder reads of the images at every step: ``image`` (B, K) the pooled vector
    ``v``, ``regions`` (B, R, K) the grid, ``keys`` (B, R, A) its attention projection (attention
    decoders only), ``mask`` (B, R) all true."""

    image: torch.Tensor
    regions: torch.Tensor
    keys: torch.Tensor | None = None

    @property
    def mask(self) -> torch.Tensor:
        return self.regions.new_ones(self.regions.shape[:2], dtype=torch.bool)

    def select(self, index: torch.Tensor) -> ImageMemory:
        keys = None if self.keys is None else self.keys.index_select(0, index)
        return ImageMemory(
            self.image.index_select(0, index), self.regions.index_select(0, index), keys
        )


def build_cell(cell: CaptionCell, input_size: int, hidden_size: int) -> nn.RNNCellBase:
    """``nn.LSTMCell`` / ``nn.GRUCell`` / ``nn.RNNCell`` (tanh): one step at a time, about twice
    as fast on the CPU as a fused RNN run for one step."""
    if cell == "lstm":
        return nn.LSTMCell(input_size, hidden_size)
    if cell == "gru":
        return nn.GRUCell(input_size, hidden_size)
    return nn.RNNCell(input_size, hidden_size, nonlinearity="tanh")


def _zeros_like_state(cell: str, batch: int, hidden_size: int, like: torch.Tensor) -> Hidden:
    zeros = like.new_zeros(1, batch, hidden_size)
    return (zeros, zeros.clone()) if cell == "lstm" else zeros


class CaptionDecoder(nn.Module):
    """What every caption decoder has: the word embedding, one recurrent layer (``rnn``,
    ``lstm`` or ``gru``), dropout, and the output layer from the top state (B, H) to (B, V)."""

    def __init__(
        self,
        vocab_size: int,
        rnn_input_size: int,
        embedding_dim: int,
        cell: CaptionCell,
        hidden_size: int,
        dropout: float,
        stepwise: bool = False,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.rnn = (
            build_cell(cell, rnn_input_size, hidden_size)
            if stepwise
            else build_rnn(cell, rnn_input_size, hidden_size, 1, False, 0.0)
        )
        self.dropout = nn.Dropout(dropout)
        self.output_layer = nn.Linear(hidden_size, vocab_size)

    def logits(self, vector: torch.Tensor) -> torch.Tensor:
        """(..., H) -> (..., V)."""
        return self.output_layer(vector)

    def prepare(self, grid: torch.Tensor) -> tuple[ImageMemory, CaptionState]:
        """grid (B, R, K) -> the memory the steps read and the first state."""
        raise NotImplementedError

    def step_input(self, words: torch.Tensor, memory: ImageMemory) -> torch.Tensor:
        """What the cell reads besides its state: embedded words (B, T, E) -> (B, T, *)."""
        return words

    def step(
        self, previous: torch.Tensor, state: CaptionState, memory: ImageMemory
    ) -> tuple[torch.Tensor, CaptionState, torch.Tensor]:
        """previous words (B,) -> output vector (B, H), new state, attention (B, R) (zeros for
        decoders without attention)."""
        words = self.dropout(self.embedding(previous)).unsqueeze(1)
        top, hidden = self.rnn(self.step_input(words, memory), state.hidden)
        weights = memory.regions.new_zeros(memory.regions.shape[:2])
        return self.dropout(top.squeeze(1)), CaptionState(hidden), weights

    def forward(
        self, grid: torch.Tensor, captions_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: captions_in (B, T) = ``<s> w_1 .. w_{T-1}`` -> logits (B, T, V) and
        the attention (B, T, R), ``None`` without attention. One fused RNN call over T."""
        memory, state = self.prepare(grid)
        words = self.dropout(self.embedding(captions_in))
        top, _ = self.rnn(self.step_input(words, memory), state.hidden)
        return self.logits(self.dropout(top)), None


class ShowAndTellDecoder(CaptionDecoder):
    """Show and Tell: the image vector enters once, before the first word.

    Args:
        vocab_size: word vocabulary size V (given by the network).
        feature_size: image feature size K (given by the network).
        embedding_dim: word embedding size E (the image is projected to it for ``input``).
        cell: ``lstm`` (the paper's), ``gru`` or ``rnn``.
        hidden_size: hidden size H.
        dropout: on word embeddings and the output vector.
        inject: ``input``: ``W v`` is the first input, read from a zero state before ``<s>``
            (the paper's); ``state``: ``tanh(W v)`` is the first hidden (and cell) state.
    """

    def __init__(
        self,
        vocab_size: int,
        feature_size: int,
        embedding_dim: int = 256,
        cell: CaptionCell = "lstm",
        hidden_size: int = 512,
        dropout: float = 0.5,
        inject: Literal["input", "state"] = "input",
    ) -> None:
        super().__init__(vocab_size, embedding_dim, embedding_dim, cell, hidden_size, dropout)
        self.inject = inject
        size = embedding_dim if inject == "input" else hidden_size
        self.image_layer = nn.Linear(feature_size, size)
        self.cell_layer = nn.Linear(feature_size, hidden_size) if inject == "state" else None

    def prepare(self, grid: torch.Tensor) -> tuple[ImageMemory, CaptionState]:
        image = grid.mean(dim=1)
        memory = ImageMemory(image, grid)
        if self.inject == "input":
            start = _zeros_like_state(self.cell, grid.size(0), self.hidden_size, grid)
            _, hidden = self.rnn(self.image_layer(image).unsqueeze(1), start)
            return memory, CaptionState(hidden)
        h = torch.tanh(self.image_layer(image)).unsqueeze(0)
        if self.cell == "lstm":
            return memory, CaptionState((h, torch.tanh(self.cell_layer(image)).unsqueeze(0)))
        return memory, CaptionState(h)


class ImageEveryStepDecoder(CaptionDecoder):
    """The image vector fed into every step: the cell reads ``[x_t; v]``, i.e. for ``rnn``
    ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + W_ih v + b)``; the first state is zero.

    Args:
        vocab_size: word vocabulary size V (given by the network).
        feature_size: image feature size K (given by the network).
        embedding_dim: word embedding size E.
        cell: ``rnn`` (the formula as it stands), ``lstm`` or ``gru`` (``W v`` in every gate).
        hidden_size: hidden size H.
        dropout: on word embeddings and the output vector.
    """

    def __init__(
        self,
        vocab_size: int,
        feature_size: int,
        embedding_dim: int = 256,
        cell: CaptionCell = "lstm",
        hidden_size: int = 512,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(
            vocab_size, embedding_dim + feature_size, embedding_dim, cell, hidden_size, dropout
        )

    def prepare(self, grid: torch.Tensor) -> tuple[ImageMemory, CaptionState]:
        memory = ImageMemory(grid.mean(dim=1), grid)
        return memory, CaptionState(
            _zeros_like_state(self.cell, grid.size(0), self.hidden_size, grid)
        )

    def step_input(self, words: torch.Tensor, memory: ImageMemory) -> torch.Tensor:
        image = memory.image.unsqueeze(1).expand(-1, words.size(1), -1)
        return torch.cat([words, image], dim=-1)


class SoftAttentionDecoder(CaptionDecoder):
    """Show, Attend and Tell with soft attention: at step t the previous state attends over the
    regions, ``z_t = beta_t * context_t`` with the gate ``beta_t = sigmoid(W_b h_{t-1})``, and
    the cell reads ``[E y_{t-1}; z_t]``; the word comes from ``dropout(h_t)``. The first
    hidden (and cell) state is ``tanh(W mean(regions))``.

    Args:
        vocab_size: word vocabulary size V (given by the network).
        feature_size: region feature size K (given by the network).
        embedding_dim: word embedding size E.
        cell: ``lstm`` (the paper's), ``gru`` or ``rnn``.
        hidden_size: hidden size H.
        dropout: on word embeddings and the output vector.
        attention: builds the attention from (H, K); ``AdditiveAttention`` is the paper's.
        gate: use the gate ``beta`` (the paper's; without it ``z_t`` is the context).
    """

    def __init__(
        self,
        vocab_size: int,
        feature_size: int,
        embedding_dim: int = 256,
        cell: CaptionCell = "lstm",
        hidden_size: int = 512,
        dropout: float = 0.5,
        attention: AttentionFactory = AdditiveAttention,
        gate: bool = True,
    ) -> None:
        super().__init__(
            vocab_size,
            embedding_dim + feature_size,
            embedding_dim,
            cell,
            hidden_size,
            dropout,
            stepwise=True,
        )
        self.attention = attention(hidden_size, feature_size)
        self.init_h = nn.Linear(feature_size, hidden_size)
        self.init_c = nn.Linear(feature_size, hidden_size) if cell == "lstm" else None
        self.gate = nn.Linear(hidden_size, feature_size) if gate else None

    def prepare(self, grid: torch.Tensor) -> tuple[ImageMemory, CaptionState]:
        image = grid.mean(dim=1)
        memory = ImageMemory(image, grid, self.attention.project_keys(grid))
        h = torch.tanh(self.init_h(image))
        if self.cell == "lstm":
            return memory, CaptionState((h, torch.tanh(self.init_c(image))))
        return memory, CaptionState(h)

    def step(
        self, previous: torch.Tensor, state: CaptionState, memory: ImageMemory
    ) -> tuple[torch.Tensor, CaptionState, torch.Tensor]:
        query = state.hidden[0] if isinstance(state.hidden, tuple) else state.hidden  # (B, H)
        context, weights = self.attention(query, memory.keys, memory.regions, memory.mask)
        if self.gate is not None:
            context = torch.sigmoid(self.gate(query)) * context
        words = self.dropout(self.embedding(previous))
        hidden = self.rnn(torch.cat([words, context], dim=-1), state.hidden)
        top = hidden[0] if isinstance(hidden, tuple) else hidden
        return self.dropout(top), CaptionState(hidden), weights

    def forward(
        self, grid: torch.Tensor, captions_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing, one step at a time (attention reads the previous state)."""
        memory, state = self.prepare(grid)
        vectors, weights = [], []
        for t in range(captions_in.size(1)):
            vector, state, alpha = self.step(captions_in[:, t], state, memory)
            vectors.append(vector)
            weights.append(alpha)
        return self.logits(torch.stack(vectors, dim=1)), torch.stack(weights, dim=1)


DecoderFactory = Callable[[int, int], CaptionDecoder]
"""(vocab_size, feature_size) -> decoder."""


class CaptionNetwork(nn.Module):
    """Frozen image features -> a caption decoder. The image encoder is not part of it: its
    features are computed once and cached (:mod:`nlptag.vision.features`).

    Args:
        vocab_size: word vocabulary size V (linked from the data module).
        feature_size: region feature size K (linked from the data module: 1280 for
            EfficientNet-Lite0).
        decoder: builds the decoder from (V, K): ``ShowAndTellDecoder``,
            ``ImageEveryStepDecoder`` or ``SoftAttentionDecoder``.
        feature_dropout: dropout on the image features.
    """

    def __init__(
        self,
        vocab_size: int,
        feature_size: int,
        decoder: DecoderFactory = SoftAttentionDecoder,
        feature_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.decoder = decoder(vocab_size, feature_size)
        self.feature_dropout = nn.Dropout(feature_dropout)

    def encode(self, grid: torch.Tensor, lengths: torch.Tensor | None = None):
        """grid (B, R, K) -> (ImageMemory, first CaptionState). ``lengths`` is unused: it is
        there for the search, which passes source lengths to every network it drives."""
        return self.decoder.prepare(self.feature_dropout(grid.float()))

    def forward(
        self, grid: torch.Tensor, captions_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """grid (B, R, K), captions_in (B, T) -> logits (B, T, V), attention (B, T, R) or
        ``None``."""
        return self.decoder(self.feature_dropout(grid.float()), captions_in)
