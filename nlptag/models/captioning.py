"""Caption decoders over frozen image features, and the captioning network that composes one.

Three ways for the image to reach the words, one module each:

- :class:`ShowAndTellDecoder` (Vinyals et al. 2015): the image vector ``v`` projected into the
  first input (or the first hidden state); the words never see the image again.
- :class:`ImageEveryStepDecoder`: ``v`` fed into every step, the lecture formula
  ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + W_ih v)``. The cell reads ``[x_t; v]``, so for the
  ``rnn`` cell its input weights are exactly ``[W_xh  W_ih]``; LSTM and GRU add ``W v`` to every
  gate the same way.
- :class:`SoftAttentionDecoder` (Xu et al. 2015, Show, Attend and Tell): soft attention over
  the R regions of the feature grid at every step, with the gate ``beta`` and the first state
  from the mean of the grid; the task adds the doubly stochastic attention penalty.

All three share one step interface (``prepare``, ``step``, ``logits``), the one
:mod:`nlptag.models.search` drives, so greedy, beam search and sampling work for each.

Shape letters as in :mod:`nlptag.models`: ``B`` images, ``R`` regions of the feature grid (49
for a 7x7 grid), ``F`` image feature size (1280 for EfficientNet-Lite0), ``T`` caption words,
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
    """What a caption decoder carries from one step to the next.

    The batch dimension is ``B``, or ``B * K`` in beam search.

    Args:
        hidden: the recurrent state (1, B, H) of a fused one-layer RNN or (B, H) of a cell, or an
            ``(h, c)`` pair of them for LSTMs.
    """

    hidden: Hidden

    def select(self, index: torch.Tensor) -> CaptionState:
        """The state of some batch rows (beam reordering, expansion).

        The batch is the second-to-last dimension, for fused RNN states (1, B, H) and cell states
        (B, H).

        Args:
            index: the rows to keep (B',) long, in order; may repeat rows.

        Returns:
            The state of those rows.
        """
        if isinstance(self.hidden, tuple):
            return CaptionState(tuple(part.index_select(-2, index) for part in self.hidden))
        return CaptionState(self.hidden.index_select(-2, index))


@dataclass
class ImageMemory:
    """What the decoder reads of the images at every step.

    The batch dimension is ``B``, or ``B * K`` in beam search.

    Args:
        image: the pooled image vector ``v`` (B, F), the mean of the grid.
        regions: the feature grid (B, R, F).
        keys: its attention projection (B, R, A) for attention decoders; None otherwise.
    """

    image: torch.Tensor
    regions: torch.Tensor
    keys: torch.Tensor | None = None

    @property
    def mask(self) -> torch.Tensor:
        """All-true mask (B, R) bool, for the attention: every region of the grid is real."""
        return self.regions.new_ones(self.regions.shape[:2], dtype=torch.bool)

    def select(self, index: torch.Tensor) -> ImageMemory:
        """The images of some batch rows (beam reordering, expansion).

        Args:
            index: the rows to keep (B',) long, in order; may repeat rows.

        Returns:
            The memory of those rows.
        """
        keys = None if self.keys is None else self.keys.index_select(0, index)
        return ImageMemory(
            self.image.index_select(0, index), self.regions.index_select(0, index), keys
        )


def build_cell(cell: CaptionCell, input_size: int, hidden_size: int) -> nn.RNNCellBase:
    """A recurrent cell run one step at a time: ``nn.LSTMCell``, ``nn.GRUCell`` or ``nn.RNNCell``.

    About twice as fast on the CPU as a fused RNN run for one step.

    Args:
        cell: ``lstm``, ``gru`` or ``rnn`` (tanh).
        input_size: the size of what the cell reads at every step.
        hidden_size: hidden size H.

    Returns:
        The cell, reading (B, input_size) and a state (B, H).
    """
    if cell == "lstm":
        return nn.LSTMCell(input_size, hidden_size)
    if cell == "gru":
        return nn.GRUCell(input_size, hidden_size)
    return nn.RNNCell(input_size, hidden_size, nonlinearity="tanh")


def _zeros_like_state(cell: str, batch: int, hidden_size: int, like: torch.Tensor) -> Hidden:
    zeros = like.new_zeros(1, batch, hidden_size)
    return (zeros, zeros.clone()) if cell == "lstm" else zeros


class CaptionDecoder(nn.Module):
    """What every caption decoder has: embedding, recurrent layer, dropout and output layer.

    The word embedding, one recurrent layer (``rnn``, ``lstm`` or ``gru``), dropout, and the
    output layer from the top state (B, H) to (B, V). Subclasses define :meth:`prepare`, and
    :meth:`step_input` or :meth:`step`, to let the image in.

    Args:
        vocab_size: word vocabulary size V.
        rnn_input_size: the size of what the recurrent layer reads at every step: E, or E + F
            when the image vector or an attention context is appended to each word.
        embedding_dim: word embedding size E.
        cell: ``rnn`` (tanh), ``lstm`` or ``gru``.
        hidden_size: hidden size H.
        dropout: on word embeddings and the output vector.
        stepwise: a cell run one step at a time (for decoders whose steps read the previous
            state, like attention) instead of a fused one-layer RNN.
    """

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
        """Output layer over the word vocabulary.

        Args:
            vector: output vectors (..., H).

        Returns:
            Logits (..., V).
        """
        return self.output_layer(vector)

    def prepare(self, grid: torch.Tensor) -> tuple[ImageMemory, CaptionState]:
        """The memory the steps read, and the first state.

        Args:
            grid: image features (B, R, F), one vector per region.

        Returns:
            The :class:`ImageMemory` and the first :class:`CaptionState`.
        """
        raise NotImplementedError

    def step_input(self, words: torch.Tensor, memory: ImageMemory) -> torch.Tensor:
        """What the recurrent layer reads besides its state.

        Args:
            words: embedded words (B, T, E).
            memory: the images.

        Returns:
            The words (B, T, E) here; decoders that append the image to them return (B, T, E + F).
        """
        return words

    def step(
        self, previous: torch.Tensor, state: CaptionState, memory: ImageMemory
    ) -> tuple[torch.Tensor, CaptionState, torch.Tensor]:
        """One decoder step.

        Args:
            previous: the previous word ids (B,) long (``<s>`` at the first step).
            state: the state after the previous step.
            memory: the images.

        Returns:
            The output vector (B, H), the new state and the attention weights (B, R) (zeros for
            decoders without attention).
        """
        words = self.dropout(self.embedding(previous)).unsqueeze(1)
        top, hidden = self.rnn(self.step_input(words, memory), state.hidden)
        weights = memory.regions.new_zeros(memory.regions.shape[:2])
        return self.dropout(top.squeeze(1)), CaptionState(hidden), weights

    def forward(
        self, grid: torch.Tensor, captions_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced next-word logits, with one fused RNN call over the T steps.

        Args:
            grid: image features (B, R, F).
            captions_in: the decoder's inputs (B, T) long, ``<s> w_1 .. w_{T-1}``.

        Returns:
            Logits (B, T, V) for ``w_1 .. w_T``, and the attention weights (B, T, R), or ``None``
            for decoders without attention.
        """
        memory, state = self.prepare(grid)
        words = self.dropout(self.embedding(captions_in))
        top, _ = self.rnn(self.step_input(words, memory), state.hidden)
        return self.logits(self.dropout(top)), None


class ShowAndTellDecoder(CaptionDecoder):
    """Show and Tell: the image vector enters once, before the first word.

    Args:
        vocab_size: word vocabulary size V (given by the network).
        feature_size: image feature size F (given by the network).
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
        """The memory, and the first state from the image vector ``v`` (the mean of the grid).

        With ``input``, the state after reading ``W v`` from a zero state; with ``state``,
        ``tanh(W v)`` (and ``tanh(W_c v)`` as the LSTM cell state). Args and returns as in
        :meth:`CaptionDecoder.prepare`.
        """
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
    """The image vector fed into every step; the first state is zero.

    The cell reads ``[x_t; v]``, i.e. for ``rnn``
    ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + W_ih v + b)``.

    Args:
        vocab_size: word vocabulary size V (given by the network).
        feature_size: image feature size F (given by the network).
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
        """The memory (``v`` is the mean of the grid) and a zero first state.

        Args and returns as in :meth:`CaptionDecoder.prepare`.
        """
        memory = ImageMemory(grid.mean(dim=1), grid)
        return memory, CaptionState(
            _zeros_like_state(self.cell, grid.size(0), self.hidden_size, grid)
        )

    def step_input(self, words: torch.Tensor, memory: ImageMemory) -> torch.Tensor:
        """The embedded words (B, T, E) with ``v`` appended to each: (B, T, E + F).

        Args and returns as in :meth:`CaptionDecoder.step_input`.
        """
        image = memory.image.unsqueeze(1).expand(-1, words.size(1), -1)
        return torch.cat([words, image], dim=-1)


class SoftAttentionDecoder(CaptionDecoder):
    """Show, Attend and Tell with soft attention over the regions of the grid.

    At step t the previous state attends over the regions, ``z_t = beta_t * context_t`` with the
    gate ``beta_t = sigmoid(W_b h_{t-1})``, and the cell reads ``[E y_{t-1}; z_t]``; the word
    comes from ``dropout(h_t)``. The first hidden (and cell) state is ``tanh(W mean(regions))``.

    Args:
        vocab_size: word vocabulary size V (given by the network).
        feature_size: region feature size F (given by the network).
        embedding_dim: word embedding size E.
        cell: ``lstm`` (the paper's), ``gru`` or ``rnn``.
        hidden_size: hidden size H.
        dropout: on word embeddings and the output vector.
        attention: builds the attention from its query and key sizes (H, F);
            ``AdditiveAttention`` is the paper's.
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
        """The memory with its attention keys (B, R, A), and the first state from the grid mean.

        Args and returns as in :meth:`CaptionDecoder.prepare`.
        """
        image = grid.mean(dim=1)
        memory = ImageMemory(image, grid, self.attention.project_keys(grid))
        h = torch.tanh(self.init_h(image))
        if self.cell == "lstm":
            return memory, CaptionState((h, torch.tanh(self.init_c(image))))
        return memory, CaptionState(h)

    def step(
        self, previous: torch.Tensor, state: CaptionState, memory: ImageMemory
    ) -> tuple[torch.Tensor, CaptionState, torch.Tensor]:
        """One step: attention from the previous state, the gate, then the cell.

        Args and returns as in :meth:`CaptionDecoder.step`; the attention weights (B, R) sum to
        1 over the regions.
        """
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
        """Teacher-forced next-word logits, one step at a time (attention reads the state).

        Args and returns as in :meth:`CaptionDecoder.forward`; the attention weights (B, T, R) are
        always returned.
        """
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
    """Frozen image features -> a caption decoder.

    The image encoder is not part of it: its features are computed once and cached
    (:mod:`nlptag.vision.features`).

    Args:
        vocab_size: word vocabulary size V (linked from the data module).
        feature_size: region feature size F (linked from the data module: 1280 for
            EfficientNet-Lite0).
        decoder: builds the decoder from (V, F): ``ShowAndTellDecoder``,
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
        """Encode a batch of images for the search.

        Args:
            grid: image features (B, R, F), cast to float32.
            lengths: unused: it is there for the search, which passes source lengths to every
                network it drives.

        Returns:
            The :class:`ImageMemory` and the first :class:`CaptionState`.
        """
        return self.decoder.prepare(self.feature_dropout(grid.float()))

    def forward(
        self, grid: torch.Tensor, captions_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced next-word logits.

        Args:
            grid: image features (B, R, F), cast to float32.
            captions_in: the decoder's inputs (B, T) long, ``<s> w_1 .. w_{T-1}``.

        Returns:
            Logits (B, T, V) for ``w_1 .. w_T``, and the attention weights (B, T, R), or ``None``
            for decoders without attention.
        """
        return self.decoder(self.feature_dropout(grid.float()), captions_in)
