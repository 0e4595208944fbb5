"""Deep (stacked) bidirectional recurrent encoders on PyTorch's fused kernels.

Shape letters as in :mod:`nlptag.models`.
"""

from __future__ import annotations

from time import perf_counter
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlptag.models.dropout import Dropout, dropout

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


FUSED_RNNS = (nn.LSTM, nn.GRU, nn.RNN)
"""PyTorch's fused recurrent modules, which run on both packed and padded batches."""

InferenceRun = Literal["packed", "padded"]
"""How a :class:`RecurrentEncoder` runs a batch with little padding when no gradients are
recorded."""

MAX_PADDING = 0.25
"""The largest share of padding in a batch's (B, T) grid at which the encoder runs its RNN on
the padded batch (see :class:`RecurrentEncoder`) rather than packed."""


def padding_share(lengths: torch.Tensor, time: int) -> float:
    """The share of a padded (B, T) grid that is padding.

    Args:
        lengths: real positions per sequence (B,) long.
        time: padded length T.

    Returns:
        ``1 - sum(lengths) / (B * T)``.
    """
    return 1.0 - float(lengths.sum()) / (lengths.numel() * time)


def two_buckets(sorted_lengths: torch.Tensor) -> int:
    """Where to split sequences, shortest first, into two buckets of least padded area.

    Each bucket is padded to its longest sequence; the split minimises the sum of the two
    buckets' (count x longest) areas, the largest first bucket among equal areas (so equal
    lengths make one bucket, one kernel call).

    Args:
        sorted_lengths: sequence lengths (B,) long, ascending, B >= 1.

    Returns:
        The number of sequences in the first bucket, 1 to B (B: a single bucket).
    """
    counts = torch.arange(1, sorted_lengths.numel() + 1, device=sorted_lengths.device)
    area = counts * sorted_lengths + (sorted_lengths.numel() - counts) * sorted_lengths[-1]
    return sorted_lengths.numel() - int(area.flip(0).argmin())


def length_buckets(lengths: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Sequences split by length into the (one or) two buckets of :func:`two_buckets`.

    Args:
        lengths: sequence lengths (B,) long, B >= 1, in any order.

    Returns:
        Per non-empty bucket, shortest first: the rows of its sequences (B',) long and their
        lengths (B',), ascending; one bucket when a single one is best.
    """
    sorted_lengths, order = lengths.sort()
    split = two_buckets(sorted_lengths)
    buckets = zip(order.tensor_split([split]), sorted_lengths.tensor_split([split]))
    return [(rows, bucket) for rows, bucket in buckets if rows.numel()]


def runs_padded(rnn: nn.Module, inference_run: InferenceRun) -> bool:
    """Whether a module holding ``rnn`` takes its padded run now.

    While gradients are recorded, when ``rnn`` is one of PyTorch's fused RNNs; without them,
    when ``inference_run`` is ``"padded"`` and ``rnn`` is fused or an int8 copy with a
    ``run_padded`` of its own; never while exporting to ONNX.

    Args:
        rnn: the module's recurrent layer.
        inference_run: the module's ``inference_run``.

    Returns:
        True for the padded run, False for the packed one.
    """
    if torch.onnx.is_in_onnx_export():
        return False
    fused = type(rnn) in FUSED_RNNS
    if torch.is_grad_enabled():
        return fused
    return inference_run == "padded" and (fused or hasattr(rnn, "run_padded"))


def reversal_index(lengths: torch.Tensor, time: int) -> torch.Tensor:
    """The index that reverses each padded sequence in place.

    Args:
        lengths: real positions per sequence (B,) long.
        time: padded length T.

    Returns:
        (B, T) long: position t of sequence b maps to ``lengths[b] - 1 - t`` inside the
        sequence and to itself in the padding, so gathering with it reverses each sequence and
        gathering again undoes it.
    """
    steps = torch.arange(time, device=lengths.device).unsqueeze(0)
    backwards = lengths.unsqueeze(1) - 1 - steps
    return torch.where(backwards >= 0, backwards, steps)


def reversal_rows(lengths: torch.Tensor, time: int) -> torch.Tensor:
    """:func:`reversal_index` as rows of the batch flattened to (B * T, E).

    Args:
        lengths: real positions per sequence (B,) long.
        time: padded length T.

    Returns:
        (B * T,) long, for :func:`reverse_sequences`.
    """
    index = reversal_index(lengths, time)
    offsets = torch.arange(lengths.numel(), device=lengths.device).unsqueeze(1) * time
    return (index + offsets).reshape(-1)


def reverse_sequences(inputs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Each padded sequence of a batch reversed in place; applying it twice undoes it.

    Whole rows are picked with ``index_select``, whose forward + backward on a CPU is 1.64 times
    as fast as ``gather`` with the index expanded over the features (``benchmarks/kernel_choices``).

    Args:
        inputs: (B, T, E).
        rows: from :func:`reversal_rows` (B * T,) long.

    Returns:
        (B, T, E): position t of sequence b holds ``inputs[b, lengths[b] - 1 - t]``, padding
        stays where it was.
    """
    batch, time = inputs.shape[:2]
    return inputs.reshape(batch * time, -1).index_select(0, rows).view(batch, time, -1)


class RecurrentEncoder(nn.Module):
    """Stacked (bi)directional RNN over padded sequences; padding never reaches a real position.

    The output size F (``output_size``) is ``hidden_size`` times the number of directions D.
    Dropout is applied between layers and to the output.

    Two exact ways to run it, chosen per batch: while gradients are recorded, a batch with
    little padding (at most ``MAX_PADDING`` of its B x T grid, as length-bucketed batches have)
    runs padded, layer by layer, on the fused dense kernels (:func:`run_padded`), whose
    forward + backward on a CPU is 1.27-1.99 times faster than the packed one
    (``benchmarks/kernel_choices``); the backward direction reads each sequence reversed in
    place, so padding comes after the real steps in both directions and never reaches them.
    Without gradients such a batch runs padded only when ``inference_run`` is ``"padded"``:
    which is faster there depends on the CPU (packed 1.5 times as fast at batch 256 on one
    AMD EPYC, padded 1.46-1.62 times as fast on another): predictors run padded unless told
    otherwise, and can time both (:func:`fastest_inference_run`); an int8 copy of ``rnn``
    then runs its own ``run_padded`` (:mod:`nlptag.inference.int8`); a batch with more
    padding runs in two length buckets. Everything else runs packed: training batches with
    much padding and ONNX exports. All give the outputs of the same ``nn.LSTM`` / ``nn.GRU``
    / ``nn.RNN`` (``rnn``), whose parameters are the encoder's.

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
        self.dropout = Dropout(dropout)
        self.output_size = hidden_size * (2 if bidirectional else 1)
        # one-layer, one-direction RNNs that run ``rnn``'s weights (torch.func.functional_call);
        # a plain list, so they are no submodules and add nothing to the state dict
        layer_inputs = [input_size] + [self.output_size] * (num_layers - 1)
        self._layer_rnns = [build_rnn(cell, size, hidden_size) for size in layer_inputs]
        self.inference_run: InferenceRun = "packed"

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encode padded sequences.

        Args:
            inputs: input vectors (B, T, E).
            lengths: real positions per sequence (B,) long, each >= 1.

        Returns:
            Outputs (B, T, F), the concatenated directions of the top layer; 0 at padding.
        """
        if runs_padded(self.rnn, self.inference_run):
            if padding_share(lengths, inputs.size(1)) <= MAX_PADDING:
                return self.dropout(self._run_padded(inputs, lengths.to(inputs.device)))
            if not torch.is_grad_enabled():
                return self._run_in_two_buckets(inputs, lengths)
        return self.dropout(self._run_packed(inputs, lengths))

    def _run_packed(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``rnn`` on the batch packed: (B, T, E) -> (B, T, F), 0 at padding."""
        packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, _ = pad_packed_sequence(
            self.rnn(packed)[0], batch_first=True, total_length=inputs.size(1)
        )
        return outputs

    def _run_in_two_buckets(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Inference on a batch with much padding: (B, T, E) -> (B, T, F), 0 at padding.

        The sequences are split by length into two buckets (:func:`two_buckets`); each runs
        padded if it has little padding, else packed.
        """
        buckets = length_buckets(lengths)
        if len(buckets) == 1:  # one bucket is best: no padded run pays
            return self._run_packed(inputs, lengths)
        outputs = inputs.new_zeros(*inputs.shape[:2], self.output_size)
        for rows, bucket_lengths in buckets:
            width, rows = int(bucket_lengths[-1]), rows.to(inputs.device)
            bucket = inputs.index_select(0, rows)[:, :width]
            if padding_share(bucket_lengths, width) <= MAX_PADDING:
                run = self._run_padded(bucket, bucket_lengths.to(inputs.device))
            else:
                run = self._run_packed(bucket, bucket_lengths)
            outputs[rows, :width] = run
        return outputs

    def timing_sample(self, batch: int = 32, time: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch for :func:`fastest_inference_run`, drawn from its own generator.

        Args:
            batch: the batch size B.
            time: the longest sentence T; lengths run from ``T - B // 4`` to T, as in a
                length-sorted batch of sentences.

        Returns:
            Inputs (B, T, E) and lengths (B,).
        """
        generator = torch.Generator().manual_seed(0)
        inputs = torch.randn(batch, time, self.rnn.input_size, generator=generator)
        lengths = torch.linspace(time, time - batch // 4, batch).round().long().clamp(min=1)
        return inputs, lengths

    def _run_padded(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``rnn`` on the padded batch: (B, T, E) -> (B, T, F), 0 at padding.

        An int8 copy of ``rnn`` runs its own ``run_padded``.
        """
        if hasattr(self.rnn, "run_padded"):
            return self.rnn.run_padded(inputs, lengths)
        return run_padded(self.rnn, self._layer_rnns, inputs, lengths, self.training)


def direction_weights(rnn: nn.RNNBase, layer: int = 0, suffix: str = "") -> dict[str, torch.Tensor]:
    """One layer and direction of ``rnn``'s parameters, as a one-layer, one-direction RNN's.

    For ``torch.func.functional_call`` on such an RNN.

    Args:
        rnn: an ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` with biases.
        layer: the layer, from 0.
        suffix: ``""`` for the forward direction, ``"_reverse"`` for the backward one.

    Returns:
        ``{"weight_ih_l0": ..., "weight_hh_l0": ..., "bias_ih_l0": ..., "bias_hh_l0": ...}``.
    """
    return {
        f"{name}_l0": getattr(rnn, f"{name}_l{layer}{suffix}")
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    }


def run_padded(
    rnn: nn.RNNBase,
    layer_rnns: list[nn.RNNBase],
    inputs: torch.Tensor,
    lengths: torch.Tensor,
    training: bool,
) -> torch.Tensor:
    """A stacked (bi)directional RNN on a padded batch, exactly as packed, on the fused kernels.

    Layer by layer, each direction runs ``rnn``'s weights in a one-layer, one-direction RNN of
    ``layer_rnns`` (``torch.func.functional_call``); the backward direction reads each sequence
    reversed in place (:func:`reverse_sequences`), so padding comes after the real steps in both
    directions and never reaches them.

    Args:
        rnn: the ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` whose parameters run, batch first.
        layer_rnns: one one-layer, one-direction RNN of the same cell per layer of ``rnn``,
            batch first, each with its layer's input size.
        inputs: input vectors (B, T, E).
        lengths: real positions per sequence (B,) long, each >= 1, on the inputs' device.
        training: apply ``rnn``'s dropout between layers.

    Returns:
        Outputs (B, T, D * H) of the top layer, both directions at each position; 0 at padding.
    """
    reverse = reversal_rows(lengths, inputs.size(1)) if rnn.bidirectional else None
    layer_input = inputs
    for layer, layer_rnn in enumerate(layer_rnns):
        directions = []
        for suffix in ("", "_reverse")[: 2 if rnn.bidirectional else 1]:
            weights = direction_weights(rnn, layer, suffix)
            if suffix:
                flipped = reverse_sequences(layer_input, reverse)
                output = functional_call(layer_rnn, weights, (flipped,))[0]
                directions.append(reverse_sequences(output, reverse))
            else:
                directions.append(functional_call(layer_rnn, weights, (layer_input,))[0])
        layer_input = torch.cat(directions, dim=2) if len(directions) > 1 else directions[0]
        if layer < rnn.num_layers - 1:
            layer_input = dropout(layer_input, rnn.dropout, training)
    steps = torch.arange(inputs.size(1), device=inputs.device)
    padding = steps.unsqueeze(0) >= lengths.unsqueeze(1)  # (B, T)
    return layer_input.masked_fill(padding.unsqueeze(2), 0.0)


@torch.no_grad()
def fastest_inference_run(
    module: nn.Module, *inputs: torch.Tensor, repeats: int = 3
) -> InferenceRun:
    """Which way a module with an ``inference_run`` runs ``inputs`` faster without gradients.

    Both ways run, alternately, ``repeats`` times after a warm-up round, at the current torch
    thread count, leaving the global random state alone; the faster of their fastest times
    wins. Which is faster depends on the CPU (see :class:`RecurrentEncoder`).

    Args:
        module: a :class:`RecurrentEncoder` or a character BiLSTM, with ``inference_run``.
        inputs: what ``module`` is called with, e.g. its ``timing_sample()``.
        repeats: timings of each way.

    Returns:
        ``"packed"`` or ``"padded"``; ``module.inference_run`` is left as it was.
    """
    saved, timings = module.inference_run, {"packed": [], "padded": []}
    try:
        with torch.random.fork_rng(devices=[]):  # dropout, in training mode, draws
            for round_ in range(repeats + 1):  # round 0 warms both up and is not counted
                for run, times in timings.items():
                    module.inference_run = run
                    start = perf_counter()
                    module(*inputs)
                    if round_:
                        times.append(perf_counter() - start)
    finally:
        module.inference_run = saved
    return "padded" if min(timings["padded"]) < min(timings["packed"]) else "packed"


def rnn_input_bounds(embedder: nn.Module, encoder: RecurrentEncoder) -> dict[str, float]:
    """The recurrent layers of an embedder and its encoder, with the bounds of their inputs.

    What int8 inference needs to fix its ranges (:mod:`nlptag.inference.int8`), for a network
    that holds the two as ``embedder`` and ``encoder``. Only LSTM and GRU layers are listed,
    and the encoder only when the embedder gives a bound (``output_bound``); the embedder's own
    layers come from its ``rnn_input_bounds``.

    Args:
        embedder: the word representation module.
        encoder: the recurrent encoder reading it.

    Returns:
        Submodule name (in the network) -> the largest magnitude of the layer's input.
    """
    bounds = {
        f"embedder.{name}": bound
        for name, bound in getattr(embedder, "rnn_input_bounds", dict)().items()
    }
    embedder_bound = getattr(embedder, "output_bound", lambda: None)()
    if type(encoder.rnn) in (nn.LSTM, nn.GRU) and embedder_bound is not None:
        bounds["encoder.rnn"] = embedder_bound
    return bounds
