"""Training throughput of the POS tagger against the bare fused ``nn.LSTM`` at the same shapes.

The tagger's step is embeddings (words + char BiLSTM) -> packed 2-layer BiLSTM -> softmax loss ->
backward -> Adam; the ceiling is ``nn.LSTM`` forward + backward alone on a dense (B, T, D) input
with the same batch shapes. Both count the same real (unpadded) tokens.

    NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python benchmarks/tagger_throughput.py
"""

from __future__ import annotations

import argparse
import itertools

import torch
from torch import nn

from benchmarks.common import from_config, machine, timed, today


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/pos/ud_ewt.yaml")
    parser.add_argument("--batches", type=int, default=60, help="training batches timed")
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

    rnn = model.encoder.rnn
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
    print(f"config: {args.config}; {len(batches)} batches, {tokens} tokens; {machine()}; {today()}")
    print(f"tagger training step : {tagger_rate:9.0f} tokens/s")
    print(f"bare nn.LSTM fwd+bwd : {lstm_rate:9.0f} tokens/s")
    print(f"ratio tagger / LSTM  : {tagger_rate / lstm_rate:9.2f}")


if __name__ == "__main__":
    main()
