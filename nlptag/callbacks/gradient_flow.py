"""How far back gradients reach in a recurrent language model (vanishing / exploding gradients).

For a chunk of T steps, let ``L`` be the loss of the chunk's last prediction. ``gradient_norms``
gives ``||dL/dh_t||`` for every step t, indexed by the distance ``T - 1 - t`` from the loss: with a
tanh RNN the norm falls off exponentially with the distance (Bengio et al. 1994), an LSTM or GRU
keeps it much longer. Shapes: ``B`` batch, ``T`` steps, ``N`` layers, ``H`` hidden size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import Callback

from nlptag.models.language_model import CharRNN, State, detach_state, hidden_of


def gradient_norms(
    network: CharRNN,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    state: State | None = None,
) -> torch.Tensor:
    """``||dL/dh_t||`` for the loss L of the last step -> (T,), entry d at distance d from the loss.

    ``h_t`` (N, B, H) is the hidden state of all layers after step t; the norm is taken per
    sequence and averaged over the batch (the loss is summed over the batch, so every sequence's
    gradient is its own). The network is unrolled one step at a time from ``state``; parameter
    gradients are not touched.
    """
    state = detach_state(state)
    with torch.enable_grad():
        embedded = network.embedding(inputs)  # (B, T, E)
        hiddens = []
        for t in range(inputs.size(1)):
            _, state = network.rnn(embedded[:, t : t + 1], state)
            hiddens.append(hidden_of(state))
        logits = network.output(network.dropout(hiddens[-1][-1]))  # (B, V)
        loss = F.cross_entropy(logits, targets[:, -1], reduction="sum")
        grads = torch.autograd.grad(loss, hiddens)
    norms = torch.stack([g.transpose(0, 1).flatten(1).norm(dim=1).mean() for g in grads])
    return norms.flip(0)


class GradientFlow(Callback):
    """Every ``every_n_steps`` steps, measures :func:`gradient_norms` on the coming training chunk
    (from the state the task carries into it, dropout off) and sends ``grad_flow/d<distance>`` for
    distances 0, 1, 2, 4, 8, ... to the loggers; every full profile is kept in ``history`` as
    ``(step, norms)``.

    Args:
        every_n_steps: steps between measurements.
    """

    def __init__(self, every_n_steps: int = 200) -> None:
        self.every_n_steps = every_n_steps
        self.history: list[tuple[int, list[float]]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every_n_steps:
            return
        was_training = pl_module.training
        pl_module.eval()
        try:
            norms = gradient_norms(
                pl_module.network, batch.inputs, batch.targets, pl_module.state("train")
            )
        finally:
            pl_module.train(was_training)
        self.history.append((step, norms.tolist()))
        # straight to the loggers: values logged with self.log would repeat in every later row
        distances = [0] + [2**i for i in range(len(norms).bit_length()) if 2**i < len(norms)]
        metrics = {f"grad_flow/d{d}": norms[d].item() for d in distances}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
