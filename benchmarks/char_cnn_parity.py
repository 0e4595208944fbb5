"""The character CNN's two routes on real training steps: loss and every gradient of the
first training batches of a config, with the filter responses by table lookups (the training
route) and by ``conv1d`` (the route ONNX exports take), from the same random state; only
``CharCNN.filter_responses`` is swapped, the rest of the step runs as in training.

Tells a different function from a different rounding: retrained models after the change differ
from the earlier runs by their float trajectories only if these steps agree to float precision.

    NLPTAG_DATA_DIR=../shared/data python -m benchmarks.char_cnn_parity \
        --out benchmarks/results/char_cnn_parity.md
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from unittest import mock

import torch

from benchmarks.common import commit, cpu_model, from_config, report, today
from nlptag.models.embeddings import CharCNN

CONFIGS = ("configs/sentiment/sst2.yaml", "configs/ner/conll2003.yaml")


def step_gradients(model, batches: list, by_convolution: bool) -> list[tuple[float, dict]]:
    """(loss, parameter name -> gradient) of one training step per batch, dropout seeded."""
    results = []
    route = CharCNN.responses_by_convolution if by_convolution else CharCNN.responses_by_lookup
    with mock.patch.object(CharCNN, "filter_responses", route):  # nothing else changes
        for batch in batches:
            model.zero_grad()
            torch.manual_seed(0)
            loss = model.training_step(batch, 0)
            loss = loss["loss"] if isinstance(loss, dict) else loss
            loss.backward()
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
            results.append((loss.item(), grads))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    lines = [
        f"`NLPTAG_DATA_DIR=../shared/data python -m benchmarks.char_cnn_parity --batches "
        f"{args.batches}`; {cpu_model()}, commit {commit()}, {today()}",
        "",
        "| config | batch | loss, table lookups | loss, conv1d | largest relative gradient "
        "difference | parameter |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for config in CONFIGS:
        model, data = from_config("configs/base/trainer.yaml", "--config", config)
        data.setup("fit")
        batches = list(itertools.islice(iter(data.train_dataloader()), args.batches))
        model.train()
        table = step_gradients(model, batches, by_convolution=False)
        convolution = step_gradients(model, batches, by_convolution=True)
        for index, ((loss_a, grads_a), (loss_b, grads_b)) in enumerate(zip(table, convolution)):
            if grads_a.keys() != grads_b.keys():
                raise SystemExit(f"{config}: the two routes give gradients to different parameters")
            worst, name = max(
                (
                    float(
                        (grads_a[n] - grads_b[n]).abs().max()
                        / grads_b[n].abs().max().clamp(min=1e-12)
                    ),
                    n,
                )
                for n in grads_b
            )
            lines.append(
                f"| {config} | {index} | {loss_a:.7f} | {loss_b:.7f} | {worst:.1e} | `{name}` |"
            )
    report(lines, args.out)


if __name__ == "__main__":
    main()
