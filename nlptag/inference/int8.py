"""int8 recurrent layers whose results do not depend on the batch.

PyTorch's dynamic quantization (``torch.ao.quantization.quantize_dynamic``) turns each input of
an int8 matrix product into integers with one scale for the whole tensor, taken from its
smallest and largest value. In an LSTM that tensor is one time step of the whole batch, so a
sentence's scores move with the sentences batched with it. :class:`FixedRangeInt8RNN` runs the
same int8 kernels with ranges that are fixed in advance, so every scale is the same whatever
the batch:

- each layer's input is widened by two constant columns, ``+bound`` and ``-bound``, where
  ``bound`` is the largest magnitude the input can take (given by the network for the first
  layer, see ``rnn_input_bounds``; 1 for the layers above, which read LSTM or GRU states);
  the weights of those columns are zero;
- each layer gets two more hidden units whose states reach the largest magnitude any state can
  have at that step, one positive, one negative: in an LSTM with saturated gates the cell grows
  by one per step, so its state is ``+-tanh(t)`` after ``t`` steps, the bound of every other
  unit; in a GRU it is ``+-1`` from the first step. Their outgoing weights are zero, and their
  outputs are dropped;
- directions run one at a time, the backward one on the sequences reversed in place, so that
  at every step all rows have run the same number of steps.

The extra rows and columns add zeros to the weight matrices and leave their int8 scales, and
so their int8 values, as they were. Only LSTM and GRU layers with a bound run in int8; linear
layers stay float32 (in the networks with bounds they are small heads). Torch only.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from nlptag.errors import NlptagError
from nlptag.models.encoders import reversal_rows, reverse_sequences

SATURATING = 20.0
"""A gate pre-activation far enough from 0 that float32 sigmoid and tanh give exactly 0 or +-1."""

GATES = {nn.LSTM: 4, nn.GRU: 3}
"""Gate blocks in the stacked weight matrices of each supported cell type."""


def reversal_permutation(batch_sizes: torch.Tensor) -> torch.Tensor:
    """The permutation of a packed sequence's rows that reverses every sequence in place.

    Args:
        batch_sizes: sequences still running at each step (T,) long, as in a
            :class:`~torch.nn.utils.rnn.PackedSequence`.

    Returns:
        (sum(lengths),) long, one per packed row: row ``offsets[t] + j`` (step t of the j-th
        longest sequence, of length L_j) maps to the row of step ``L_j - 1 - t``; applying it
        twice gives the identity.
    """
    offsets = torch.cumsum(batch_sizes, 0) - batch_sizes  # (T,)
    rank = torch.arange(int(batch_sizes[0]))
    lengths = (batch_sizes.unsqueeze(0) > rank.unsqueeze(1)).sum(dim=1)  # (B,) sorted
    time = torch.arange(batch_sizes.numel())
    steps = torch.repeat_interleave(time, batch_sizes)  # (sum(lengths),) each row's step
    ranks = torch.arange(steps.numel()) - offsets[steps]
    return offsets[lengths[ranks] - 1 - steps] + ranks


def dynamic_int8(module: nn.Module) -> nn.Module:
    """An ``nn.LSTM``, ``nn.GRU`` or ``nn.Linear`` as PyTorch's dynamically quantized int8 module
    (int8 weights, fbgemm kernels); ``module`` is not changed.

    torch 2.13 announces that quantized tensors will go, a warning with nothing for a user to
    act on, which is silenced here.
    """
    with warnings.catch_warnings():
        for deprecated in (r"torch\.quantize_per_tensor", r"torch\.ao\.quantization is"):
            warnings.filterwarnings("ignore", message=deprecated)
        # quantize_dynamic swaps submodules, hence the one-element container
        return torch.ao.quantization.quantize_dynamic(
            nn.Sequential(module), {type(module)}, dtype=torch.qint8
        )[0]


def _widened(rnn: nn.LSTM | nn.GRU, layer: int, suffix: str) -> nn.LSTM | nn.GRU:
    """One layer and direction of ``rnn`` as a one-layer float RNN with 2 more inputs (zero
    weights) and 2 more hidden units that track the largest state (see the module docstring)."""
    gates, hidden = GATES[type(rnn)], rnn.hidden_size
    weight_ih = getattr(rnn, f"weight_ih_l{layer}{suffix}").detach()
    weight_hh = getattr(rnn, f"weight_hh_l{layer}{suffix}").detach()
    bias_ih = getattr(rnn, f"bias_ih_l{layer}{suffix}", None)
    bias_hh = getattr(rnn, f"bias_hh_l{layer}{suffix}", None)
    bias_ih = torch.zeros(gates * hidden) if bias_ih is None else bias_ih.detach()
    bias_hh = torch.zeros(gates * hidden) if bias_hh is None else bias_hh.detach()
    inputs = weight_ih.size(1)
    wide = type(rnn)(inputs + 2, hidden + 2, batch_first=True)
    w_ih = torch.zeros(gates, hidden + 2, inputs + 2)
    w_ih[:, :hidden, :inputs] = weight_ih.reshape(gates, hidden, inputs)
    w_hh = torch.zeros(gates, hidden + 2, hidden + 2)
    w_hh[:, :hidden, :hidden] = weight_hh.reshape(gates, hidden, hidden)
    b_ih = torch.zeros(gates, hidden + 2)
    b_ih[:, :hidden] = bias_ih.reshape(gates, hidden)
    b_hh = torch.zeros(gates, hidden + 2)
    b_hh[:, :hidden] = bias_hh.reshape(gates, hidden)
    if isinstance(rnn, nn.LSTM):  # gates i, f, g, o: all open, cell input +1 and -1
        b_ih[:, hidden:] = SATURATING
        b_ih[2, hidden + 1] = -SATURATING
    else:  # gates r, z, n: update gate shut, new state +1 and -1
        b_ih[1, hidden:] = -SATURATING
        b_ih[2, hidden] = SATURATING
        b_ih[2, hidden + 1] = -SATURATING
    with torch.no_grad():
        wide.weight_ih_l0.copy_(w_ih.reshape(gates * (hidden + 2), inputs + 2))
        wide.weight_hh_l0.copy_(w_hh.reshape(gates * (hidden + 2), hidden + 2))
        wide.bias_ih_l0.copy_(b_ih.reshape(-1))
        wide.bias_hh_l0.copy_(b_hh.reshape(-1))
    return wide.eval()


class FixedRangeInt8RNN(nn.Module):
    """An ``nn.LSTM`` or ``nn.GRU`` (batch first) run in int8 with fixed activation ranges, on
    packed inputs (``forward``) or padded ones (``run_padded``, which
    :class:`~nlptag.models.encoders.RecurrentEncoder` calls when its ``inference_run`` is
    ``"padded"``): a sentence's outputs are the same in any batch (see the module docstring).

    Args:
        rnn: the float RNN; its weights are copied, it is not changed.
        input_bound: the largest magnitude of any value of the first layer's input; larger
            values are clipped to it.

    Raises:
        ValueError: for other RNN types, or a bound that is not a positive finite number.
    """

    def __init__(self, rnn: nn.LSTM | nn.GRU, input_bound: float) -> None:
        super().__init__()
        if type(rnn) not in GATES or not rnn.batch_first:
            raise ValueError(f"int8 with fixed ranges needs a batch-first LSTM or GRU, got {rnn}")
        if not (0.0 < input_bound < float("inf")):
            raise ValueError(f"int8 input bound must be positive and finite, got {input_bound}")
        self.input_size = rnn.input_size
        self.hidden_size = rnn.hidden_size  # read by CharBiLSTM
        self.bidirectional = rnn.bidirectional
        self.bounds = [float(input_bound)] + [1.0] * (rnn.num_layers - 1)
        suffixes = ("", "_reverse")[: 2 if rnn.bidirectional else 1]
        self.layers = nn.ModuleList(
            nn.ModuleList(dynamic_int8(_widened(rnn, layer, suffix)) for suffix in suffixes)
            for layer in range(rnn.num_layers)
        )

    def forward(self, packed: PackedSequence, hx: None = None) -> tuple[PackedSequence, None]:
        """Run every layer and direction.

        Args:
            packed: the input sequences, packed: data (sum(lengths), E).
            hx: must be None (each sequence starts from zero states).

        Returns:
            The top layer's outputs, packed like the input: data (sum(lengths), D * H); and
            None in place of the final states.
        """
        if hx is not None:
            raise ValueError("int8 with fixed ranges starts every sequence from zero states")
        data, batch_sizes = packed.data, packed.batch_sizes
        reverse = reversal_permutation(batch_sizes) if self.bidirectional else None
        hidden = self.hidden_size
        for bound, directions in zip(self.bounds, self.layers):
            edges = data.new_tensor([bound, -bound]).expand(data.size(0), 2)
            wide = torch.cat([data.clamp(-bound, bound), edges], dim=1)  # (sum(lengths), E + 2)
            outputs = [directions[0](PackedSequence(wide, batch_sizes))[0].data[:, :hidden]]
            if reverse is not None:
                flipped = PackedSequence(wide.index_select(0, reverse), batch_sizes)
                backward = directions[1](flipped)[0].data[:, :hidden]
                outputs.append(backward.index_select(0, reverse))
            data = torch.cat(outputs, dim=1) if len(outputs) > 1 else outputs[0]
        return packed._replace(data=data), None

    def run_padded(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Run every layer and direction on a padded batch, with the fused int8 kernels.

        Every row starts at step 0, so at each step all rows have run the same number of steps
        and the ranges stay fixed; the backward direction reads each sequence reversed in place
        (:func:`~nlptag.models.encoders.reverse_sequences`), so padding comes after the real steps
        in both directions and never reaches them.

        Args:
            inputs: input vectors (B, T, E), 0 at padding.
            lengths: real positions per sequence (B,) long, each >= 1.

        Returns:
            The top layer's outputs (B, T, D * H), 0 at padding.
        """
        batch, time = inputs.shape[:2]
        reverse = None
        if self.bidirectional:
            reverse = reversal_rows(lengths, time)
        hidden, data = self.hidden_size, inputs
        for bound, directions in zip(self.bounds, self.layers):
            edges = data.new_tensor([bound, -bound]).expand(batch, time, 2)
            wide = torch.cat([data.clamp(-bound, bound), edges], dim=2)  # (B, T, E + 2)
            outputs = [directions[0](wide)[0][..., :hidden]]
            if reverse is not None:
                flipped = reverse_sequences(wide, reverse)
                backward = directions[1](flipped)[0][..., :hidden]
                outputs.append(reverse_sequences(backward, reverse))
            data = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
        padding = torch.arange(time, device=inputs.device).unsqueeze(0) >= lengths.unsqueeze(1)
        return data.masked_fill(padding.unsqueeze(2), 0.0)


def quantize_int8(network: nn.Module, where: str = "<memory>") -> nn.Module:
    """The network with its recurrent layers in int8 with fixed ranges, for CPU inference.

    The network names the layers and the bound of their inputs with ``rnn_input_bounds()``
    (submodule name -> largest input magnitude); only those are replaced, in place. The same
    float weights always give the same int8 weights, which is why bundles store the float
    weights and quantize at load (safetensors cannot hold the packed int8 parameters).

    Args:
        network: a network in eval mode.
        where: the bundle or checkpoint it comes from, for the error message.

    Returns:
        The same network object, changed.

    Raises:
        NlptagError: when the network has no ``rnn_input_bounds`` or names no layer.
    """
    bounds = getattr(network, "rnn_input_bounds", None)
    bounds = bounds() if callable(bounds) else {}
    if not bounds:
        raise NlptagError(
            f"{where}: {type(network).__name__} does not run in int8: int8 needs the range "
            "of each LSTM or GRU layer's input, which only taggers and classifiers with LSTM "
            "or GRU encoders give (rnn_input_bounds); use a float32 bundle"
        )
    for name, bound in bounds.items():
        parent_name, _, child = name.rpartition(".")
        parent = network.get_submodule(parent_name) if parent_name else network
        setattr(parent, child, FixedRangeInt8RNN(getattr(parent, child), bound))
    return network
