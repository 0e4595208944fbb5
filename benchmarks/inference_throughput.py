"""Inference throughput of a tagging bundle (POS on UD English EWT test by default, or NER on a
CoNLL file given with --test-file): eager torch, ONNX Runtime and int8 (fixed-range LSTMs), at
batch sizes 1, 32 and 256, with 2 threads; plus peak memory.

For eager torch, a further pass per batch size times each call of the recurrent kernels (every
``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` the network runs, the encoder's and the character
BiLSTM's one-direction runs included) with forward hooks: the sentences/s the bundle would reach
if nothing but those kernels took time, the limit the predictor's own work can only approach.

Each mode runs in its own process, so its peak resident memory (``ru_maxrss``: the bundle
loaded, the test set read and tagged) is its own. Times are wall-clock seconds of a pass over
the whole test set, the fastest of 3 after a warm-up pass over all of it (in trial runs on a
2-core virtual machine, 2026-12-08, the first full pass was often the slowest and single passes
varied by a fifth); the kernels-alone passes come after them. Sentences/s counts all sentences.

    NLPTAG_DATA_DIR=../shared/data python -m benchmarks.inference_throughput
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import commit, cpu_model, fastest_wall, today
from nlptag.files import write_text_atomically

MODES = ("eager", "onnx", "int8")
BATCH_SIZES = (1, 32, 256)
PASSES = 3
"""Timed passes per batch size (after a warm-up pass); the fastest one is reported."""


def recurrent_modules(network) -> list:
    """Every recurrent kernel module the network may run: its ``nn.RNNBase`` submodules and the
    one-direction RNNs that padded runs call with their weights (``_layer_rnns``)."""
    from torch import nn

    found = [module for module in network.modules() if isinstance(module, nn.RNNBase)]
    for module in list(network.modules()):
        found += getattr(module, "_layer_rnns", [])
    return found


def kernel_seconds(predictor, sentences: list, batch_size: int) -> float:
    """Seconds spent inside the recurrent kernels during one ``predict`` pass."""
    total, started, handles = [0.0], [0.0], []

    def before(module, inputs) -> None:
        started[0] = time.perf_counter()

    def after(module, inputs, outputs) -> None:
        total[0] += time.perf_counter() - started[0]

    for module in recurrent_modules(predictor.network):
        handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        predictor.predict(sentences, batch_size=batch_size)
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def measure(mode: str, bundles: Path, test_file: Path, threads: int) -> dict:
    """Sentences/s per batch size and peak RSS for one mode, in this process."""
    import torch

    import nlptag
    from nlptag.text.readers import read_conll_columns, read_conllu

    torch.set_num_threads(threads)
    if test_file.suffix == ".conllu":
        sentences = [example["tokens"] for example in read_conllu(test_file)]
    else:  # CoNLL columns (CoNLL-2003): the first column
        sentences = [example["tokens"] for example in read_conll_columns(test_file, 0, None)]
    bundle = bundles / ("int8" if mode == "int8" else "float")
    predictor = nlptag.load(bundle, backend="onnx" if mode == "onnx" else "torch", threads=threads)
    rates = {}
    for batch_size in BATCH_SIZES:
        predictor.predict(sentences, batch_size=batch_size)  # warm-up pass
        rates[batch_size] = len(sentences) / fastest_wall(
            PASSES, predictor.predict, sentences, batch_size
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kernel_rates = {}
    if mode == "eager":  # after the timed passes, so the hooks cannot slow them
        for batch_size in BATCH_SIZES:
            kernel_rates[batch_size] = len(sentences) / min(
                kernel_seconds(predictor, sentences, batch_size) for _ in range(PASSES)
            )
    tokens = sum(len(s) for s in sentences)
    encoder = getattr(predictor.network, "encoder", None)
    if mode == "eager" and encoder is not None:  # which run nlptag.load timed as the faster
        mode = f"eager (encoder {encoder.inference_run})"
    return {
        "mode": mode,
        "rates": rates,
        "kernel_rates": kernel_rates,
        "peak_mib": peak_mib,
        "sentences": len(sentences),
        "tokens": tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/pos_v2_s1/checkpoints/best.ckpt")
    parser.add_argument(
        "--test-file",
        default=None,
        help="a .conllu or CoNLL file; default: the mirror's UD EWT test",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bundles", default="runs/bundles/pos", help="where bundles are written")
    parser.add_argument("--output", default="benchmarks/results/inference_throughput.md")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one child process
    args = parser.parse_args()
    data_dir = Path(os.environ.get("NLPTAG_DATA_DIR", "../shared/data"))
    test_file = Path(args.test_file or data_dir / "ud_en_ewt" / "en_ewt-ud-test.conllu")
    bundles = Path(args.bundles)
    if args.mode:
        print(json.dumps(measure(args.mode, bundles, test_file, args.threads)))
        return

    from nlptag.inference.export import export

    export(args.checkpoint, bundles / "float", onnx=True, overwrite=True)
    export(args.checkpoint, bundles / "int8", quantize="int8", overwrite=True)
    environment = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "NLPTAG_OFFLINE": "1"}
    results = []
    for mode in MODES:
        child = [sys.executable, "-m", "benchmarks.inference_throughput", "--mode", mode]
        child += ["--bundles", str(bundles), "--test-file", str(test_file)]
        child += ["--threads", str(args.threads)]
        done = subprocess.run(child, env=environment, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first = results[0]
    lines = [
        f"`{test_file.name}` ({first['sentences']} sentences, {first['tokens']} tokens), "
        f"`{args.checkpoint}`, {args.threads} threads, {cpu_model()}, commit {commit()}, "
        f"{today()}",
        "",
        "| mode | "
        + " | ".join(f"batch {b} (sent/s)" for b in BATCH_SIZES)
        + " | peak RSS (MiB) |",
        "| --- | " + " | ".join("---:" for _ in BATCH_SIZES) + " | ---: |",
    ]
    for result in results:
        rates = " | ".join(f"{result['rates'][str(b)]:,.0f}" for b in BATCH_SIZES)
        lines.append(f"| {result['mode']} | {rates} | {result['peak_mib']:,.0f} |")
        if result["kernel_rates"]:
            limits = " | ".join(f"{result['kernel_rates'][str(b)]:,.0f}" for b in BATCH_SIZES)
            lines.append(
                f"| {result['mode'].split(' ')[0]}'s recurrent kernels alone | {limits} | |"
            )
    table = "\n".join(lines) + "\n"
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(args.output, table)
    print(table)


if __name__ == "__main__":
    main()
