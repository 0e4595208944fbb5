"""Character-level recurrent language model (char-rnn) and sampling from it.

Shapes: ``B`` batch (streams), ``T`` time, ``E`` embedding size, ``H`` hidden size, ``V``
characters, ``N`` layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nlptag.models.encoders import Cell, build_rnn

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
"""Recurrent state: ``h`` (N, B, H), or ``(h, c)`` for an LSTM."""


def detach_state(state: State | None) -> State | None:
    """The same state cut from the graph: truncated BPTT carries values, not gradients."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(part.detach() for part in state)
    return state.detach()


def hidden_of(state: State) -> torch.Tensor:
    """The hidden vectors ``h`` (N, B, H) of a state (an LSTM's cell vectors left out)."""
    return state[0] if isinstance(state, tuple) else state


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One id per row of ``logits`` (B, V) -> (B,).

    ``temperature`` 0 takes the most likely id (greedy); otherwise ids are drawn from
    ``softmax(logits / temperature)``, restricted to the ``top_k`` most likely when given. Drawing
    happens on the generator's device (the CPU for a default ``torch.Generator()``).
    """
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None:
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        kth = logits.topk(min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(dim=-1)
    device = generator.device if generator is not None else probs.device
    return torch.multinomial(probs.to(device), 1, generator=generator).squeeze(1).to(logits.device)


class CharRNN(nn.Module):
    """Embedding -> unidirectional stacked RNN (any cell) -> dropout -> linear layer over the
    characters, whose weight can be tied to the embedding (then ``embedding_dim`` must equal
    ``hidden_size``).

    inputs (B, T) ids and a state (None: zeros) -> logits (B, T, V) and the final state.

    Args:
        num_chars: vocabulary size V.
        embedding_dim: size E of the character embeddings.
        cell: ``lstm``, ``gru``, ``rnn`` (tanh) or ``irnn`` (ReLU, identity init).
        hidden_size: H.
        num_layers: stacked layers N.
        dropout: dropout between layers and before the output layer.
        tie_weights: share the output layer's weight with the embedding.
    """

    def __init__(
        self,
        num_chars: int,
        embedding_dim: int = 64,
        cell: Cell = "lstm",
        hidden_size: int = 512,
        num_layers: int = 1,
        dropout: float = 0.0,
        tie_weights: bool = False,
    ) -> None:
        super().__init__()
        if tie_weights and embedding_dim != hidden_size:
            raise ValueError(
                f"tie_weights needs embedding_dim == hidden_size, got {embedding_dim} and "
                f"{hidden_size}"
            )
        self.embedding = nn.Embedding(num_chars, embedding_dim)
        self.rnn = build_rnn(cell, embedding_dim, hidden_size, num_layers, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, num_chars)
        if tie_weights:
            self.output.weight = self.embedding.weight

    def forward(
        self, inputs: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        outputs, state = self.rnn(self.embedding(inputs), state)  # (B, T, H)
        return self.output(self.dropout(outputs)), state

    @torch.no_grad()
    def generate(
        self,
        prime: torch.Tensor,
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        banned: Sequence[int] = (),
    ) -> torch.Tensor:
        """Reads ``prime`` (B, P) with P >= 1, then samples ``length`` ids one at a time, feeding
        each back in -> (B, length). Ids in ``banned`` (e.g. ``<unk>``) are never produced."""
        if prime.size(1) < 1:
            raise ValueError("generation needs a prime of at least one character")
        logits, state = self(prime)
        produced = []
        for _ in range(length):
            last = logits[:, -1]
            if banned:
                last = last.index_fill(
                    -1, torch.tensor(list(banned), device=last.device), float("-inf")
                )
            step = sample_next(last, temperature, top_k, generator)
            produced.append(step)
            logits, state = self(step[:, None], state)
        return torch.stack(produced, dim=1) if produced else prime.new_zeros(prime.size(0), 0)
