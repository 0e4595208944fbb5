"""Where a tagger's training step goes: recurrent kernels, other matmuls, CRF, embeddings,
optimizer, data loading and the rest, for the POS and NER configs, on one thread.

Each part is timed alone, forward and backward, on the shapes of the same real training batches
(CPU seconds of this process, after a warm-up): the word BiLSTM (the encoder's run of its
``nn.LSTM``, padded or packed as it chooses), the character features module on the batch's
distinct spellings, the word embedding lookup and dropouts, the output projection, the head's
loss beyond it (the CRF's forward algorithm and path score), the optimizer (gradient clipping,
step, zero_grad) and producing the batches (the data module's dataloader). The whole step
(``zero_grad``, forward, loss, backward, clip, step) is timed too; what the parts leave of it
is Python and autograd glue. A ``torch.profiler`` table of the step's busiest operators follows
each breakdown.

The kernel ceiling is the bare ``nn.LSTM`` forward + backward of the word BiLSTM on a dense
(B, T, E) input, plus, when the tagger has one, the bare character ``nn.LSTM`` on the dense
(distinct spellings, L, char_dim) input: the recurrent work the tagger cannot avoid.

    NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.profile_step \
        --out benchmarks/results/profile_step.md
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch
from torch import nn

from benchmarks.common import commit, cpu_model, from_config, today
from nlptag.files import write_text_atomically
from nlptag.models.embeddings import CharBiLSTM
from nlptag.models.encoders import MAX_PADDING

TASKS = {
    "POS (configs/pos/ud_ewt.yaml)": ["configs/base/trainer.yaml", "configs/pos/ud_ewt.yaml"],
    "NER (configs/ner/conll2003.yaml)": ["configs/base/trainer.yaml", "configs/ner/conll2003.yaml"],
    "NER, flair's model (configs/ner/conll2003_flair.yaml)": [
        "configs/base/trainer.yaml",
        "configs/ner/conll2003_flair.yaml",
    ],
}
RECURRENT = ("word BiLSTM (the encoder's run)", "character features")
LINEAR = ("output projection",)


def cpu_seconds(function, batches: list, repeat: int = 2) -> float:
    """CPU seconds per batch of ``function(batch)`` over the batches, after one warm-up pass."""
    for batch in batches:
        function(batch)
    start = time.process_time()
    for _ in range(repeat):
        for batch in batches:
            function(batch)
    return (time.process_time() - start) / (repeat * len(batches))


def backward(output: torch.Tensor) -> None:
    output.float().sum().backward()


def spellings(batch) -> torch.Tensor:
    """The batch's distinct spellings (U, L), as the word embedder computes them."""
    return torch.unique(batch.chars.reshape(-1, batch.chars.size(2)), dim=0)


def breakdown(configs: list[str], steps: int, clip: float) -> dict:
    torch.manual_seed(0)
    overrides = [argument for config in configs[1:] for argument in ("--config", config)]
    model, data = from_config(configs[0], *overrides)
    data.setup("fit")
    loader = data.train_dataloader()
    start = time.process_time()
    batches = list(itertools.islice(iter(loader), steps))
    data_seconds = (time.process_time() - start) / len(batches)
    tokens = sum(int(batch.mask.sum()) for batch in batches) / len(batches)
    model.train()
    network = model.network
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    parameters = [p for p in network.parameters() if p.requires_grad]

    def step(batch) -> None:
        optimizer.zero_grad()
        model.head.loss(model(batch), batch.tags, batch.mask).backward()
        torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()

    embedder, encoder, head = network.embedder, network.encoder, network.head
    rnn = encoder.rnn
    inputs = {
        id(b): torch.randn(*b.words.shape, rnn.input_size, requires_grad=True) for b in batches
    }
    features = {
        id(b): torch.randn(*b.words.shape, encoder.output_size, requires_grad=True) for b in batches
    }
    unique = {id(b): spellings(b) for b in batches}

    def word_rnn(batch) -> None:  # the encoder's own run (padded or packed), dropout aside
        dropout, encoder.dropout = encoder.dropout, nn.Identity()
        try:
            backward(encoder(inputs[id(batch)], batch.lengths))
        finally:
            encoder.dropout = dropout

    def char_features(batch) -> None:
        if embedder.char_features is not None:
            backward(embedder.char_features(unique[id(batch)]))

    def embedding_and_dropout(batch) -> None:
        backward(embedder.word_embedding(batch.words))
        backward(embedder.dropout(inputs[id(batch)]))
        backward(encoder.dropout(features[id(batch)]))

    def distinct_spellings(batch) -> None:
        torch.unique(batch.chars.reshape(-1, batch.chars.size(2)), dim=0, return_inverse=True)

    def projection(batch) -> None:
        backward(head.projection(features[id(batch)]))

    def head_loss(batch) -> None:
        head.loss(features[id(batch)], batch.tags, batch.mask).backward()

    def optimizer_only(batch) -> None:
        for p in parameters:
            p.grad = torch.zeros_like(p)
        torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
        optimizer.zero_grad()

    step_seconds = cpu_seconds(step, batches)
    parts = {
        "word BiLSTM (the encoder's run)": cpu_seconds(word_rnn, batches),
        "character features": cpu_seconds(char_features, batches),
        "word embedding lookup + dropouts": cpu_seconds(embedding_and_dropout, batches),
        "distinct spellings (torch.unique)": cpu_seconds(distinct_spellings, batches),
        "output projection": cpu_seconds(projection, batches),
    }
    parts["head loss beyond the projection (CRF or softmax)"] = max(
        0.0, cpu_seconds(head_loss, batches) - parts["output projection"]
    )
    parts["optimizer (clip, step, zero_grad)"] = cpu_seconds(optimizer_only, batches)
    parts["Python and autograd glue (the rest of the step)"] = max(
        0.0, step_seconds - sum(parts.values())
    )

    # the bare kernels: dense nn.LSTMs at the same shapes
    bare_word = nn.LSTM(
        rnn.input_size,
        rnn.hidden_size,
        rnn.num_layers,
        batch_first=True,
        bidirectional=rnn.bidirectional,
    )
    chars = embedder.char_features
    bare_char = None
    if isinstance(chars, CharBiLSTM):
        bare_char = nn.LSTM(
            chars.lstm.input_size, chars.lstm.hidden_size, batch_first=True, bidirectional=True
        )
    char_inputs = (
        {
            id(b): torch.randn(
                *unique[id(b)].shape, chars.embedding.embedding_dim, requires_grad=True
            )
            for b in batches
        }
        if bare_char is not None
        else {}
    )

    def bare(batch) -> None:
        backward(bare_word(inputs[id(batch)])[0])
        if bare_char is not None:
            backward(bare_char(char_inputs[id(batch)])[0])

    bare_seconds = cpu_seconds(bare, batches)
    padded = sum(
        1 - float(b.lengths.sum()) / b.lengths.numel() / b.words.size(1) <= MAX_PADDING
        for b in batches
    )

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        for batch in batches[: min(10, len(batches))]:
            step(batch)
    operators = sorted(profile.key_averages(), key=lambda e: -e.self_cpu_time_total)[:10]
    total = sum(e.self_cpu_time_total for e in profile.key_averages())
    return {
        "batches": len(batches),
        "tokens": tokens,
        "sentences": sum(b.words.size(0) for b in batches) / len(batches),
        "step": step_seconds,
        "data": data_seconds,
        "parts": parts,
        "bare": bare_seconds,
        "has_char_lstm": bare_char is not None,
        "padded": padded,
        "operators": [(e.key, e.count, e.self_cpu_time_total / total) for e in operators],
    }


def report(name: str, result: dict) -> list[str]:
    step = result["step"]
    outside = step - sum(result["parts"][k] for k in RECURRENT + LINEAR)
    lines = [
        f"#### {name}",
        "",
        f"{result['batches']} training batches, {result['sentences']:.1f} sentences and "
        f"{result['tokens']:.0f} tokens per batch on average; the encoder ran "
        f"{result['padded']} of them padded and {result['batches'] - result['padded']} packed.",
        "",
        "| part of the step | ms per step | % of the step |",
        "| --- | ---: | ---: |",
    ]
    for part, seconds in result["parts"].items():
        lines.append(f"| {part} | {1000 * seconds:.1f} | {100 * seconds / step:.1f} |")
    lines += [
        f"| **whole training step** | **{1000 * step:.1f}** | 100.0 |",
        f"| producing the batch (dataloader, outside the step) | {1000 * result['data']:.1f} | "
        f"{100 * result['data'] / step:.1f} |",
        "",
        f"- Time outside the recurrent and linear kernels: **{100 * outside / step:.1f}%** of "
        "the step (the step minus the word BiLSTM, the character features and the projection).",
        f"- Training step: {result['tokens'] / step:,.0f} tokens/s; bare kernels (dense "
        f"`nn.LSTM` word BiLSTM{' + character BiLSTM' if result['has_char_lstm'] else ''}, "
        f"forward + backward): {result['tokens'] / result['bare']:,.0f} tokens/s; "
        f"ratio **{result['bare'] / step:.2f}**.",
        "",
        "Busiest operators of the step (`torch.profiler`, self CPU time, 10 steps):",
        "",
        "| operator | calls | % of self CPU time |",
        "| --- | ---: | ---: |",
    ]
    for key, count, share in result["operators"]:
        lines.append(f"| `{key}` | {count:,} | {100 * share:.1f} |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="training batches timed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--task", choices=list(TASKS), action="append", help="default: all")
    parser.add_argument("--out", type=Path, default=None, help="write the tables here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    command = "NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.profile_step"
    lines = [
        f"`{command} --steps {args.steps} --threads {args.threads}`; {cpu_model()}, "
        f"{args.threads} torch thread(s); CPU seconds of the process; commit {commit()}, {today()}",
        "",
    ]
    for name in args.task or list(TASKS):
        lines += report(name, breakdown(TASKS[name], args.steps, clip=5.0))
        print("\n".join(lines), flush=True)
    if args.out:
        write_text_atomically(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
