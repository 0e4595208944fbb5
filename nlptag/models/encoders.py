"""Deep (stacked) bidirectional recurrent encoders on PyTorch's fused kernels.

Shape letters as in :mod:`nlptag.models`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Cell = Literal["lstm", "gru", "rnn", "irnn"]
"""A recurrent cell: ``lstm``, ``gru``, ``rnn`` (tanh) or ``irnn`` (ReLU, identity init)."""


def build_rnn(
    cell: Cell,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
) -> nn.RNNBase:
    """The fused ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` for a cell name (batch first).

    ``irnn`` is a ReLU RNN whose recurrent weights start as the identity and biases as zero
    (Le et al. 2015, "A Simple Way to Initialize Recurrent Networks of Rectified Linear Units").

    Args:
        cell: ``lstm``, ``gru``, ``rnn`` (tanh) or ``irnn`` (ReLU, identity init).
        input_size: size of each input vector.
        hidden_size: hidden size H per direction.
        num_layers: stacked layers N.
        bidirectional: add a backward RNN (D = 2).
        dropout: dropout probability between stacked layers; ignored with one layer.

    Returns:
        The recurrent module, batch first.
    """
    kwargs = dict(
        input_size=input_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
        batch_first=True,
    )
    if cell == "lstm":
        return nn.LSTM(**kwargs)
    if cell == "gru":
        return nn.GRU(**kwargs)
    if cell == "rnn":
        return nn.RNN(nonlinearity="tanh", **kwargs)
    if cell == "irnn":
        rnn = nn.RNN(nonlinearity="relu", **kwargs)
        for name, parameter in rnn.named_parameters():
            if name.startswith("weight_hh"):
                nn.init.eye_(parameter)
            elif name.startswith("bias"):
                nn.init.zeros_(parameter)
        return rnn
    raise ValueError(f"unknown cell {cell!r}; expected one of lstm, gru, rnn, irnn")


class RecurrentEncoder(nn.Module):
    """Stacked (bi)directional RNN over padded sequences, run packed so padding is never read.

    The output size F (``output_size``) is ``hidden_size`` times the number of directions D.
    Dropout is applied between layers and to the output.

    Args:
        input_size: size E of each input vector (given by the network).
        cell: ``lstm`` (the default), ``gru``, ``rnn`` (tanh) or ``irnn`` (ReLU, identity init).
        hidden_size: hidden size H per direction.
        num_layers: stacked layers N.
        bidirectional: run a backward RNN too and concatenate both (D = 2); False: forward only.
        dropout: dropout probability between layers (when ``num_layers`` > 1) and on the output
            (0 disables it).
    """

    def __init__(
        self,
        input_size: int,
        cell: Cell = "lstm",
        hidden_size: int = 256,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.33,
    ) -> None:
        super().__init__()
        self.rnn = build_rnn(cell, input_size, hidden_size, num_layers, bidirectional, dropout)
        self.dropout = nn.Dropout(dropout)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encode padded sequences.

        Args:
            inputs: input vectors (B, T, E).
            lengths: real positions per sequence (B,) long, each >= 1.

        Returns:
            Outputs (B, T, F), the concatenated directions of the top layer; 0 at padding.
        """
        packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, _ = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=inputs.size(1))
        return self.dropout(outputs)
