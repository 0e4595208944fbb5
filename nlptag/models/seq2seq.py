"""Attentional recurrent encoder-decoder (Bahdanau et al. 2015; Luong et al. 2015).

Shape letters as in :mod:`nlptag.models`: ``S`` source length, ``T`` target length, ``F``
encoder output size, ``H`` decoder hidden size, ``V`` target vocabulary size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from nlptag.models.attention import AdditiveAttention, AttentionFactory
from nlptag.models.encoders import Cell, RecurrentEncoder, build_rnn
from nlptag.text.specials import PAD_ID


@dataclass
class DecoderState:
    """What the decoder carries from one step to the next.

    The batch dimension is ``B``, or ``B * K`` in beam search.

    Args:
        hidden: the RNN state (N, B, H), or an ``(h, c)`` pair of them for LSTMs.
        feed: the previous attentional vector (B, H), for input feeding.
    """

    hidden: torch.Tensor | tuple[torch.Tensor, torch.Tensor]
    feed: torch.Tensor

    def select(self, index: torch.Tensor) -> DecoderState:
        """The state of some batch rows (beam reordering, expansion).

        Args:
            index: the rows to keep (B',) long, in order; may repeat rows.

        Returns:
            The state of those rows.
        """
        if isinstance(self.hidden, tuple):
            hidden = tuple(part.index_select(1, index) for part in self.hidden)
        else:
            hidden = self.hidden.index_select(1, index)
        return DecoderState(hidden, self.feed.index_select(0, index))


@dataclass
class EncodedSource:
    """Encoder outputs and what attention needs of them, for ``B`` sentences (or ``B * K``).

    Args:
        outputs: encoder outputs (B, S, F).
        projected_keys: the attention's projection of the outputs (B, S, A).
        mask: (B, S) bool, True at real tokens.
        lengths: source tokens per sentence (B,) long.
    """

    outputs: torch.Tensor  # (B, S, F)
    projected_keys: torch.Tensor  # (B, S, A)
    mask: torch.Tensor  # (B, S) bool, True at real tokens
    lengths: torch.Tensor  # (B,)

    def select(self, index: torch.Tensor) -> EncodedSource:
        """The source of some batch rows (beam reordering, expansion).

        Args:
            index: the rows to keep (B',) long, in order; may repeat rows.

        Returns:
            The source of those rows.
        """
        return EncodedSource(
            self.outputs.index_select(0, index),
            self.projected_keys.index_select(0, index),
            self.mask.index_select(0, index),
            self.lengths.index_select(0, index),
        )


class RecurrentDecoder(nn.Module):
    """Recurrent decoder with attention after the recurrent step and input feeding.

    As in Luong et al. (2015): at step t the RNN reads [embedding(y_{t-1}); h~_{t-1}], its top
    state s_t attends over the source, and h~_t = tanh(W [s_t; context_t]) predicts y_t. The first
    state comes from the encoder's final states through a bridge (linear + tanh).

    Args:
        vocab_size: target vocabulary size V (given by the network).
        encoder_size: encoder output size F (given by the network).
        embedding_dim: target embedding size E.
        cell: ``gru`` (the default) or ``lstm`` (``rnn``/``irnn`` also work).
        hidden_size: decoder hidden size H (also the attentional vector's size).
        num_layers: stacked decoder layers N.
        attention: builds the attention from (H, F): ``AdditiveAttention`` (Bahdanau, the
            default), ``DotAttention`` (needs H == F) or ``GeneralAttention`` (Luong).
        input_feeding: feed h~_{t-1} into the RNN with the previous word; False feeds the word
            alone.
        dropout: dropout probability on embeddings, between layers (when ``num_layers`` > 1) and
            on the attentional vector (0 disables it).
        tie_embeddings: share the target embedding matrix with the output layer (h~ is projected
            to E first when H != E); False gives the output layer its own weights.
    """

    def __init__(
        self,
        vocab_size: int,
        encoder_size: int,
        embedding_dim: int = 256,
        cell: Cell = "gru",
        hidden_size: int = 512,
        num_layers: int = 1,
        attention: AttentionFactory = AdditiveAttention,
        input_feeding: bool = True,
        dropout: float = 0.3,
        tie_embeddings: bool = True,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.input_feeding = input_feeding
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        rnn_input = embedding_dim + (hidden_size if input_feeding else 0)
        self.rnn = build_rnn(cell, rnn_input, hidden_size, num_layers, False, dropout)
        self.bridge = nn.Linear(encoder_size, hidden_size)
        self.attention = attention(hidden_size, encoder_size)
        self.combine = nn.Linear(hidden_size + encoder_size, hidden_size, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.pre_output = (
            nn.Linear(hidden_size, embedding_dim, bias=False)
            if tie_embeddings and hidden_size != embedding_dim
            else nn.Identity()
        )
        self.output_layer = nn.Linear(
            embedding_dim if tie_embeddings else hidden_size, vocab_size, bias=False
        )
        if tie_embeddings:
            self.output_layer.weight = self.embedding.weight

    def prepare(self, outputs: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor):
        """The source as attention sees it, and the first decoder state.

        The first state comes from the final states of both directions of the encoder.

        Args:
            outputs: outputs (B, S, F) of a bidirectional encoder.
            mask: (B, S) bool, True at real tokens.
            lengths: source tokens per sentence (B,) long.

        Returns:
            The :class:`EncodedSource` and the first :class:`DecoderState`.
        """
        source = EncodedSource(outputs, self.attention.project_keys(outputs), mask, lengths)
        half = outputs.size(2) // 2
        last = outputs[torch.arange(outputs.size(0)), lengths - 1]  # (B, F)
        final = torch.cat([last[:, :half], outputs[:, 0, half:]], dim=-1)  # fwd end, bwd start
        start = torch.tanh(self.bridge(final)).unsqueeze(0).repeat(self.num_layers, 1, 1)
        hidden = (start, torch.zeros_like(start)) if self.cell == "lstm" else start
        feed = outputs.new_zeros(outputs.size(0), self.hidden_size)
        return source, DecoderState(hidden, feed)

    def step(
        self, previous: torch.Tensor, state: DecoderState, source: EncodedSource
    ) -> tuple[torch.Tensor, DecoderState, torch.Tensor]:
        """One decoder step.

        Args:
            previous: the previous target ids (B,) long (``<s>`` at the first step).
            state: the state after the previous step.
            source: the encoded source.

        Returns:
            The attentional vector (B, H), the new state and the attention weights (B, S).
        """
        inputs = self.dropout(self.embedding(previous))
        if self.input_feeding:
            inputs = torch.cat([inputs, state.feed], dim=-1)
        top, hidden = self.rnn(inputs.unsqueeze(1), state.hidden)
        top = top.squeeze(1)
        context, weights = self.attention(top, source.projected_keys, source.outputs, source.mask)
        attentional = self.dropout(torch.tanh(self.combine(torch.cat([top, context], dim=-1))))
        return attentional, DecoderState(hidden, attentional), weights

    def logits(self, attentional: torch.Tensor) -> torch.Tensor:
        """Output layer over the target vocabulary.

        Args:
            attentional: attentional vectors (..., H).

        Returns:
            Logits (..., V).
        """
        return self.output_layer(self.pre_output(attentional))


EncoderFactory = Callable[[int], RecurrentEncoder]
"""(input_size) -> encoder."""
DecoderFactory = Callable[[int, int], RecurrentDecoder]
"""(target_vocab_size, encoder_output_size) -> decoder."""


class Seq2Seq(nn.Module):
    """Source embedding -> bidirectional recurrent encoder -> attentional recurrent decoder.

    Args:
        source_vocab_size: source vocabulary size, specials included (given by the task, which
            links it from the data module).
        target_vocab_size: target vocabulary size V, specials included (given by the task,
            which links it from the data module).
        embedding_dim: source embedding size E.
        encoder: builds the encoder from ``embedding_dim``; it must be bidirectional. Default a
            :class:`~nlptag.models.encoders.RecurrentEncoder` with its own defaults.
        decoder: builds the decoder from (target_vocab_size, encoder output size F). Default a
            :class:`RecurrentDecoder` with its own defaults.
        share_embeddings: one embedding matrix for source and target (needs a joint vocabulary
            and equal embedding sizes); False gives each side its own.
        embedding_dropout: dropout probability on the source embeddings (0 disables it).
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        embedding_dim: int = 256,
        encoder: EncoderFactory = RecurrentEncoder,
        decoder: DecoderFactory = RecurrentDecoder,
        share_embeddings: bool = False,
        embedding_dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.source_embedding = nn.Embedding(source_vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.encoder = encoder(embedding_dim)
        if not self.encoder.rnn.bidirectional:
            raise ValueError("the translation encoder must be bidirectional")
        self.decoder = decoder(target_vocab_size, self.encoder.output_size)
        if share_embeddings:
            if self.decoder.embedding.weight.shape != self.source_embedding.weight.shape:
                raise ValueError(
                    "share_embeddings needs a joint vocabulary and equal source and target "
                    "embedding sizes"
                )
            self.decoder.embedding.weight = self.source_embedding.weight

    def encode(self, source: torch.Tensor, lengths: torch.Tensor):
        """Encode a batch of sources.

        Args:
            source: source ids (B, S) long, padded with ``<pad>``.
            lengths: source tokens per sentence (B,) long.

        Returns:
            The :class:`EncodedSource` and the first :class:`DecoderState`.
        """
        mask = source.ne(PAD_ID)
        outputs = self.encoder(self.embedding_dropout(self.source_embedding(source)), lengths)
        return self.decoder.prepare(outputs, mask, lengths)

    def forward(
        self, source: torch.Tensor, lengths: torch.Tensor, target_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher-forced next-token logits.

        Args:
            source: source ids (B, S) long, padded with ``<pad>``.
            lengths: source tokens per sentence (B,) long.
            target_in: the decoder's inputs (B, T) long, ``<s> y_1 .. y_{T-1}``.

        Returns:
            Logits (B, T, V) for ``y_1 .. y_T``.
        """
        encoded, state = self.encode(source, lengths)
        attentional = []
        for t in range(target_in.size(1)):
            vector, state, _ = self.decoder.step(target_in[:, t], state, encoded)
            attentional.append(vector)
        return self.decoder.logits(torch.stack(attentional, dim=1))
