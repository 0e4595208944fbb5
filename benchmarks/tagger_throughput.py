"""Training throughput of the POS tagger against the bare fused ``nn.LSTM`` at the same shapes.

The tagger's step is embeddings (words + char BiLSTM) -> packed 2-layer BiLSTM -> softmax loss ->
backward -> Adam; the ceiling is ``nn.LSTM`` forward + backward alone on a dense (B, T, D) input
with the same batch shapes. Both count the same real (unpadded) tokens.

    NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.tagger_throughput \
        --batches 40 --out benchmarks/results/tagger_throughput.md
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import torch
from torch import nn

from benchmarks.common import commit, cpu_model, from_config, machine, timed, today
from nlptag.files import write_text_atomically


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/pos/ud_ewt.yaml")
    parser.add_argument("--batches", type=int, default=60, help="training batches timed")
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    args = parser.parse_args()
    torch.manual_seed(0)
    model, data = from_config(args.config)
    data.setup("fit")
    batches = list(itertools.islice(iter(data.train_dataloader()), args.batches))
    tokens = sum(int(batch.mask.sum()) for batch in batches)
    model.train()
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer

    def tagger_epoch() -> None:
        for batch in batches:
            optimizer.zero_grad()
            loss = model.head.loss(model(batch), batch.tags, batch.mask)
            loss.backward()
            optimizer.step()

    rnn = model.network.encoder.rnn
    bare = nn.LSTM(
        rnn.input_size, rnn.hidden_size, rnn.num_layers, batch_first=True, bidirectional=True
    )
    inputs = [torch.randn(*b.words.shape, rnn.input_size, requires_grad=True) for b in batches]

    def lstm_epoch() -> None:
        for x in inputs:
            output, _ = bare(x)
            output.sum().backward()

    tagger_rate = tokens / timed(tagger_epoch, 2)
    lstm_rate = tokens / timed(lstm_epoch, 2)
    sentences = sum(int(batch.words.shape[0]) for batch in batches)
    text = "\n".join(
        [
            f"`python -m benchmarks.tagger_throughput --config {args.config} --batches "
            f"{args.batches}`; {machine()}, {cpu_model()}; CPU seconds of the process; "
            f"commit {commit()}, {today()}",
            "",
            f"| what ({args.config}, {len(batches)} training batches, {sentences:,} sentences, "
            f"{tokens:,} tokens) | tokens/s |",
            "| --- | ---: |",
            "| tagger training step: word + char-BiLSTM embeddings, packed 2-layer BiLSTM (256), "
            f"softmax loss, backward, Adam | {tagger_rate:,.0f} |",
            "| bare `nn.LSTM` forward + backward, same shapes, dense input (the kernel's ceiling) "
            f"| {lstm_rate:,.0f} |",
            f"| ratio | {tagger_rate / lstm_rate:.2f} |",
        ]
    )
    print(text)
    if args.out:
        write_text_atomically(args.out, text + "\n")


if __name__ == "__main__":
    main()
