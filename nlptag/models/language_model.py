"""Character-level recurrent language model (char-rnn) and sampling from it.

Shape letters as in :mod:`nlptag.models`: ``B`` streams, ``T`` characters per chunk, ``V`` the
character vocabulary size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nlptag.models.encoders import Cell, build_rnn

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
"""Recurrent state: ``h`` (N, B, H), or ``(h, c)`` for an LSTM."""


def detach_state(state: State | None) -> State | None:
    """The same state cut from the graph: truncated BPTT carries values, not gradients.

    Args:
        state: a recurrent state, or None.

    Returns:
        The detached state (None for None).
    """
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(part.detach() for part in state)
    return state.detach()


def hidden_of(state: State) -> torch.Tensor:
    """The hidden vectors of a state (an LSTM's cell vectors left out).

    Args:
        state: a recurrent state.

    Returns:
        ``h`` (N, B, H).
    """
    return state[0] if isinstance(state, tuple) else state


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One id per row of ``logits``.

    ``temperature`` 0 takes the most likely id (greedy); otherwise ids are drawn from
    ``softmax(logits / temperature)``, restricted to the ``top_k`` most likely when given. Drawing
    happens on the generator's device (the CPU for a default ``torch.Generator()``).

    Args:
        logits: next-id scores (B, V).
        temperature: >= 0; 0 is greedy, 1 samples from the model's distribution, higher values
            flatten it and lower ones sharpen it.
        top_k: draw only among the ``top_k`` (>= 1) most likely ids; None: among all.
        generator: the random number generator to draw with; None: torch's global one.

    Returns:
        Ids (B,) long, on the device of ``logits``.
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
    """Character-level language model: embedding -> unidirectional stacked RNN -> linear layer.

    Embedding -> unidirectional stacked RNN (any cell) -> dropout -> linear layer over the
    characters, whose weight can be tied to the embedding (then ``embedding_dim`` must equal
    ``hidden_size``).

    Args:
        num_chars: character vocabulary size V (given by the task).
        embedding_dim: size E of the character embeddings.
        cell: ``lstm`` (the default), ``gru``, ``rnn`` (tanh) or ``irnn`` (ReLU, identity init).
        hidden_size: hidden size H of every layer.
        num_layers: stacked layers N.
        dropout: dropout probability between layers (when ``num_layers`` > 1) and before the
            output layer; 0 (the default) disables it.
        tie_weights: share the output layer's weight with the embedding (needs
            ``embedding_dim == hidden_size``); False keeps them separate.
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
        """Next-character logits for a chunk of every stream.

        Args:
            inputs: character ids (B, T) long.
            state: the state to start from (see :data:`State`); None starts from zeros.

        Returns:
            Logits (B, T, V) and the state after the last character.
        """
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
        """Sample a continuation of every prime, one id at a time, each fed back in.

        Args:
            prime: the characters to start from (B, T) long, T >= 1.
            length: number of ids to sample, >= 0.
            temperature: see :func:`sample_next`.
            top_k: see :func:`sample_next`.
            generator: see :func:`sample_next`.
            banned: ids that are never produced (e.g. ``<unk>``).

        Returns:
            The sampled ids (B, length) long, without the prime.
        """
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
