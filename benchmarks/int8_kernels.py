"""How much faster int8 is than float32 for a tagging bundle's encoder, kernel by kernel: the
matrix product of one recurrent step and a layer's input projection (``F.linear`` against
PyTorch's dynamically quantized int8 ``Linear``, fbgemm), and the whole encoder on the test
set's batches (the float bundle's padded run, oneDNN's LSTM, against the int8 bundle's
fixed-range int8 LSTMs), at 1 and 2 threads. It tells whether int8 can lift a bundle whose
predictor time is mostly its encoder (see ``benchmarks/inference_throughput``).

Wall-clock seconds, the fastest of 3 passes after a warm-up pass; GFLOP/s count 2 per
multiply-add, for the encoder over the real tokens only (padding is work that counts for
nothing). The encoder reads random vectors of its input size: speed does not depend on them.
Run it on the bundles ``benchmarks.inference_throughput`` writes:

    NLPTAG_DATA_DIR=../shared/data python -m benchmarks.int8_kernels --bundles runs/bundles/pos \
        --out benchmarks/results/int8_kernels.md
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import commit, cpu_model, fastest_wall, report, today
from nlptag.inference.int8 import dynamic_int8
from nlptag.inference.predictors import length_sorted_batches
from nlptag.text.readers import read_conllu

BATCH = 256
PASSES = 3


def fastest(function, *arguments) -> float:
    """Wall-clock seconds of the fastest of ``PASSES`` calls, after a warm-up call."""
    function(*arguments)
    return fastest_wall(PASSES, function, *arguments)


def product_line(what: str, rows: int, weight: torch.Tensor) -> str:
    """One table row: ``rows`` input vectors times ``weight`` (out, in), float32 and int8."""
    inputs = torch.randn(rows, weight.size(1)).clamp(-1, 1)
    linear = nn.Linear(weight.size(1), weight.size(0), bias=False)
    with torch.no_grad():
        linear.weight.copy_(weight)
    quantized = dynamic_int8(linear)
    flops = 2 * rows * weight.size(0) * weight.size(1)
    with torch.no_grad():
        float_seconds = fastest(F.linear, inputs, weight)
        int8_seconds = fastest(quantized, inputs)
    return row(what, float_seconds, int8_seconds, flops)


def row(what: str, float_seconds: float, int8_seconds: float, flops: float) -> str:
    return (
        f"| {what} | {torch.get_num_threads()} | {float_seconds * 1e3:,.2f} | "
        f"{int8_seconds * 1e3:,.2f} | {flops / float_seconds / 1e9:,.0f} | "
        f"{flops / int8_seconds / 1e9:,.0f} | {float_seconds / int8_seconds:.2f} |"
    )


def encoder_batches(
    test_file: Path, input_size: int, batch_size: int = BATCH
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Random encoder inputs (B, T, E) in [-1, 1], the same at each call, and lengths (B,), for
    the test set in the predictors' length-sorted batches of ``batch_size`` sentences."""
    lengths = [len(example["tokens"]) for example in read_conllu(test_file)]
    generator = torch.Generator().manual_seed(0)
    batches = []
    for indices in length_sorted_batches(lengths, batch_size):
        batch_lengths = torch.tensor([lengths[i] for i in indices])
        shape = (len(indices), int(batch_lengths.max()), input_size)
        batches.append((torch.randn(shape, generator=generator).clamp(-1, 1), batch_lengths))
    return batches


def encode_all(encoder: nn.Module, batches: list) -> None:
    for inputs, lengths in batches:
        encoder(inputs, lengths)


def multiply_adds_per_token(rnn: nn.LSTM) -> int:
    """Multiply-adds of every layer and direction of an LSTM at one position."""
    directions = 2 if rnn.bidirectional else 1
    total, inputs = 0, rnn.input_size
    for _ in range(rnn.num_layers):
        total += directions * 4 * rnn.hidden_size * (inputs + rnn.hidden_size)
        inputs = directions * rnn.hidden_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", default="runs/bundles/pos", type=Path)
    parser.add_argument("--test-file", default=None, help="default: the mirror's UD EWT test")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    import nlptag

    data_dir = Path(os.environ.get("NLPTAG_DATA_DIR", "../shared/data"))
    test_file = Path(args.test_file or data_dir / "ud_en_ewt" / "en_ewt-ud-test.conllu")
    float_encoder = nlptag.load(args.bundles / "float").network.encoder
    int8_encoder = nlptag.load(args.bundles / "int8").network.encoder
    rnn = float_encoder.rnn
    if not isinstance(rnn, nn.LSTM):
        raise SystemExit(f"{args.bundles}: the encoder is a {type(rnn).__name__}, not an LSTM")
    batches = encoder_batches(test_file, rnn.input_size)
    tokens = sum(int(lengths.sum()) for _, lengths in batches)
    top_weight = getattr(rnn, f"weight_ih_l{rnn.num_layers - 1}").detach()  # (4H, input)
    mean_time = sum(int(lengths.max()) for _, lengths in batches) / len(batches)
    lines = [
        f"`python -m benchmarks.int8_kernels --bundles {args.bundles}`; {cpu_model()}; "
        f"wall ms, fastest of {PASSES} passes; commit {commit()}, {today()}",
        "",
        "| kernel | threads | float32 (ms) | int8 (ms) | float32 (GFLOP/s) | int8 (GFLOP/s) "
        "| float32 / int8 time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for threads in (1, 2):
        torch.set_num_threads(threads)
        lines.append(
            product_line(
                f"one recurrent step's product, ({BATCH} x {rnn.hidden_size}) x "
                f"({rnn.hidden_size} x {4 * rnn.hidden_size})",
                BATCH,
                rnn.weight_hh_l0.detach(),
            )
        )
        steps = round(mean_time)
        lines.append(
            product_line(
                f"top layer's input projection, ({BATCH}·{steps} x {top_weight.size(1)}) x "
                f"({top_weight.size(1)} x {top_weight.size(0)})",
                BATCH * steps,
                top_weight,
            )
        )
        with torch.no_grad():
            float_seconds = fastest(encode_all, float_encoder, batches)
            int8_seconds = fastest(encode_all, int8_encoder, batches)
        flops = 2 * multiply_adds_per_token(rnn) * tokens
        lines.append(
            row(
                f"encoder ({rnn.num_layers}-layer BiLSTM {rnn.hidden_size}), {test_file.name} "
                f"in sorted batches of {BATCH} ({tokens:,} tokens)",
                float_seconds,
                int8_seconds,
                flops,
            )
        )
    report(lines, args.out)


if __name__ == "__main__":
    main()
