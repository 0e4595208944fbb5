"""How far back do gradients reach? tanh RNN vs IRNN vs LSTM vs GRU, with and without clipping.

Trains a small character language model with each cell briefly on Tiny Shakespeare, once without
and once with gradient-norm clipping, and measures ``||dL/dh_t||`` over a chunk of ``bptt_steps``
steps with :class:`nlptag.callbacks.gradient_flow.GradientFlow` (L: the loss of the chunk's last
character). Saves one figure, the norm against the distance from the loss on a log scale:

    OMP_NUM_THREADS=1 NLPTAG_DATA_DIR=../shared/data python benchmarks/gradient_flow.py

(about two minutes on one CPU thread). Plain SGD is used, as in the lecture's discussion of
exploding and vanishing gradients: unlike Adam, it takes the gradient's size at face value, so
clipping matters.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
import warnings
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
import torch

from data_modules.text import CharLMDataModule
from nlptag.callbacks.gradient_flow import GradientFlow
from nlptag.models.language_model import CharRNN
from nlptag.tasks.language_model import CharLanguageModel

CELLS = ("rnn", "irnn", "lstm", "gru")
LABELS = {"rnn": "tanh RNN", "irnn": "IRNN (ReLU, W=I)", "lstm": "LSTM", "gru": "GRU"}
COLORS = {"rnn": "tab:red", "irnn": "tab:orange", "lstm": "tab:blue", "gru": "tab:green"}


def train(cell: str, clip: float | None, args: argparse.Namespace) -> dict:
    """Trains one model; returns its final training loss and mean gradient profile."""
    pl.seed_everything(args.seed, verbose=False)
    data = CharLMDataModule(
        dataset="tinyshakespeare", batch_size=args.batch_size, bptt_steps=args.bptt_steps
    )
    model = CharLanguageModel(
        num_chars=data.num_chars,
        vocabulary=data.vocabulary,
        network=partial(CharRNN, embedding_dim=32, cell=cell, hidden_size=args.hidden_size),
        optimizer=(
            partial(torch.optim.SGD, lr=args.lr, momentum=0.9)
            if args.optimizer == "sgd"
            else partial(torch.optim.Adam, lr=args.lr)
        ),
    )
    flow = GradientFlow(every_n_steps=args.measure_every)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=args.steps,
        limit_val_batches=0,
        gradient_clip_val=clip,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[flow],
    )
    trainer.fit(model, data)
    last = [norms for step, norms in flow.history if step >= args.steps // 2]  # trained half
    profile = torch.tensor(last).mean(dim=0)
    return {"loss": float(trainer.callback_metrics["train/loss"]), "profile": profile}


def plot(results: dict, args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = list(dict.fromkeys(clip for _, clip in results))
    figure, axes = plt.subplots(1, len(clips), figsize=(6 * len(clips), 4.5), sharey=True)
    for axis, clip in zip(axes, clips):
        for cell in CELLS:
            result = results[cell, clip]
            profile = result["profile"]
            finite = torch.isfinite(profile) & (profile > 0)
            distance = torch.arange(len(profile))
            loss = result["loss"]
            label = (
                f"{LABELS[cell]} (train loss {loss:.2f})"
                if math.isfinite(loss)
                else (f"{LABELS[cell]} (diverged)")
            )
            axis.semilogy(distance[finite], profile[finite], color=COLORS[cell], label=label)
        title = "no clipping" if clip is None else f"gradient norm clipped at {clip:g}"
        axis.set_title(title)
        axis.set_xlabel("distance from the loss (steps back, t = T - 1 - d)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    axes[0].set_ylabel("||dL/dh_t||  (mean over the batch)")
    figure.suptitle(
        f"Gradient flow in char-level LMs on Tiny Shakespeare: H={args.hidden_size}, "
        f"{args.steps} {args.optimizer} steps (lr {args.lr:g}), chunks of {args.bptt_steps}"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=500, help="training steps per model")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--clip", type=float, default=1.0, help="max gradient norm when clipped")
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bptt-steps", type=int, default=100)
    parser.add_argument("--measure-every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "gradient_flow.png"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    results = {}
    for clip in (None, args.clip):
        for cell in CELLS:
            start = time.time()
            results[cell, clip] = result = train(cell, clip, args)
            profile = result["profile"]
            print(
                f"{cell:5s} clip={clip}  train/loss {result['loss']:.3f}  |dL/dh| at distance "
                + ", ".join(
                    f"{d}: {profile[d]:.2e}"
                    for d in (0, 1, 10, 50, len(profile) - 1)
                    if d < len(profile)
                )
                + f"  ({time.time() - start:.0f} s)",
                flush=True,
            )
    plot(results, args, args.output)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
