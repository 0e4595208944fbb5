"""Samples of generated text during language-model training, as min-char-rnn prints them."""

from __future__ import annotations

from pathlib import Path

import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import rank_zero_info


class SampleText(Callback):
    """Prints a sample of generated text every ``every_n_steps`` optimizer steps, as min-char-rnn
    does, and appends it to ``<log_dir>/samples.txt``. Samples are drawn with their own generator
    (seeded by the step), so they do not disturb the training's random numbers.

    Args:
        every_n_steps: steps between samples.
        prime: text the model reads before sampling.
        length: characters to sample.
        temperature: sampling temperature (0: greedy).
        top_k: sample only among the k most likely characters.
    """

    def __init__(
        self,
        every_n_steps: int = 500,
        prime: str = "\n",
        length: int = 200,
        temperature: float = 0.8,
        top_k: int | None = None,
    ) -> None:
        self.every_n_steps = every_n_steps
        self.prime = prime
        self.length = length
        self.temperature = temperature
        self.top_k = top_k
        self._last_step = -1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every_n_steps or step == self._last_step or not trainer.is_global_zero:
            return
        self._last_step = step
        generator = torch.Generator().manual_seed(step)
        text = pl_module.generate(self.prime, self.length, self.temperature, self.top_k, generator)
        report = f"----- sample at step {step} -----\n{self.prime}{text}\n-----"
        rank_zero_info(report)
        if trainer.log_dir is not None:
            path = Path(trainer.log_dir) / "samples.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(report + "\n")
