"""The kernel choices behind the speed-ups, measured: the encoder's padded run
against its packed run (training: forward + backward on real length-bucketed batches;
inference: forward on the predictor's length-sorted batches of UD EWT test, for the encoder and
the character BiLSTM, each with its ``inference_run`` set to either; the POS tagger's character
BiLSTM trained both ways), the NER tagger's character CNN as a convolution and by table
lookups, Adam's fused update against its default (foreach) one on a tagger's parameters, and
two element-wise choices: dropout drawn from ``torch.rand`` against ``F.dropout``, and the
padded runs' reversal with ``index_select`` against ``gather``.

CPU seconds of this process on one thread, best of 3 passes after a warm-up pass.

    NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.kernel_choices \
        --out benchmarks/results/kernel_choices.md
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import commit, cpu_model, from_config, report, today
from nlptag.inference.predictors import length_sorted_batches
from nlptag.models import encoders
from nlptag.models.dropout import dropout
from nlptag.models.embeddings import CharBiLSTM, CharCNN, distinct_rows
from nlptag.text.readers import read_conllu

CONFIGS = {
    "POS (configs/pos/ud_ewt.yaml)": "configs/pos/ud_ewt.yaml",
    "NER (configs/ner/conll2003.yaml)": "configs/ner/conll2003.yaml",
}


def best_of_3(function, *arguments) -> float:
    function(*arguments)
    times = []
    for _ in range(3):
        start = time.process_time()
        function(*arguments)
        times.append(time.process_time() - start)
    return min(times)


def run_with(max_padding: float, function, *arguments) -> float:
    """``function`` timed with the encoder's padded run allowed (1.0) or never taken (-1.0)."""
    saved, encoders.MAX_PADDING = encoders.MAX_PADDING, max_padding
    try:
        return best_of_3(function, *arguments)
    finally:
        encoders.MAX_PADDING = saved


def forward_backward(encoder, inputs: list, batches: list) -> None:
    for x, batch in zip(inputs, batches):
        encoder(x.requires_grad_(), batch.lengths).sum().backward()


def char_cnn_lines(name: str, cnn: CharCNN, spellings: list) -> list[str]:
    """The character CNN's convolution against its table lookups, forward + backward and
    forward alone, on each batch's distinct spellings."""

    def train(run) -> None:
        for distinct, _ in spellings:
            run(distinct).sum().backward()

    def infer(run) -> None:
        with torch.no_grad():
            for distinct, _ in spellings:
                run(distinct)

    lines = []
    for what, loop in (("forward + backward", train), ("forward alone", infer)):
        convolution = best_of_3(loop, lambda chars: cnn.pooled(cnn.responses_by_convolution(chars)))
        table = best_of_3(loop, cnn)
        lines.append(
            f"{name} char CNN on the distinct words of the same batches, {what} (ms): conv1d "
            f"{1000 * convolution:,.1f}, table lookups {1000 * table:,.1f}, ratio "
            f"{convolution / table:.2f}."
        )
    return lines


def training_rows(batches: int) -> list[str]:
    rows, notes = [], []
    for name, config in CONFIGS.items():
        model, data = from_config("configs/base/trainer.yaml", "--config", config)
        data.setup("fit")
        loaded = list(itertools.islice(iter(data.train_dataloader()), batches))
        encoder = model.network.encoder.train()
        encoder.dropout.p = 0.0
        inputs = [torch.randn(*b.words.shape, encoder.rnn.input_size) for b in loaded]

        packed = run_with(-1.0, forward_backward, encoder, inputs, loaded)
        padded = run_with(1.0, forward_backward, encoder, inputs, loaded)
        rows.append(
            f"| training, {name}, {len(loaded)} bucketed batches of 32 | {1000 * packed:,.0f} "
            f"| {1000 * padded:,.0f} | {packed / padded:.2f} |"
        )
        chars = model.network.embedder.char_features
        spellings = []
        for batch in loaded:
            distinct = distinct_rows(batch.chars.reshape(-1, batch.chars.size(2)))[0]
            distinct = distinct[distinct.ne(0).any(dim=1)]
            spellings.append((distinct, distinct.ne(0).sum(dim=1)))
        if isinstance(chars, CharCNN):
            notes += char_cnn_lines(name.split(" ")[0], chars, spellings)
        if isinstance(chars, CharBiLSTM):  # its two ways, on each batch's distinct spellings
            packed = best_of_3(char_forward_backward, chars._final_states_packed, spellings)
            padded = best_of_3(char_forward_backward, chars._final_states_padded, spellings)
            rows.append(
                f"| training, {name.split(' ')[0]} char BiLSTM, the distinct words of the same "
                f"batches | {1000 * packed:,.0f} | {1000 * padded:,.0f} | {packed / padded:.2f} |"
            )
    return rows, notes


def char_forward_backward(run, spellings: list) -> None:
    for distinct, lengths in spellings:
        run(distinct, lengths).sum().backward()


def repeated(function, inputs: torch.Tensor, times: int = 200) -> None:
    for _ in range(times):
        function(inputs).sum().backward()


def elementwise_rows() -> list[str]:
    """Dropout and the padded runs' in-place reversal, each two ways, forward + backward."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(32, 17, 512, generator=generator).requires_grad_()
    lengths = torch.randint(12, 18, (32,), generator=generator)
    index = encoders.reversal_index(lengths, 17).unsqueeze(2).expand_as(inputs)
    rows = encoders.reversal_rows(lengths, 17)
    pairs = {
        "dropout 0.5": (
            ("F.dropout", lambda x: F.dropout(x, 0.5, True)),
            ("nlptag dropout", lambda x: dropout(x, 0.5, True)),
        ),
        "reversing each sequence in place": (
            ("gather", lambda x: x.gather(1, index)),
            ("index_select", lambda x: encoders.reverse_sequences(x, rows)),
        ),
    }
    lines = []
    for what, ((name_a, a), (name_b, b)) in pairs.items():
        first, second = best_of_3(repeated, a, inputs) / 200, best_of_3(repeated, b, inputs) / 200
        lines.append(
            f"{what.capitalize()} on a (32, 17, 512) tensor, forward + backward (ms): {name_a} "
            f"{1000 * first:.3f}, {name_b} {1000 * second:.3f}, ratio {first / second:.2f}."
        )
    return ["", *lines]


def forward(run, batches: list) -> None:
    with torch.no_grad():
        for arguments in batches:
            run(*arguments)


def with_run(module, run: str):
    """``module``'s forward with its ``inference_run`` set to ``run`` for the call."""

    def call(*arguments):
        saved, module.inference_run = module.inference_run, run
        try:
            return module(*arguments)
        finally:
            module.inference_run = saved

    return call


def inference_rows(test_file: Path) -> list[str]:
    model, _ = from_config("configs/base/trainer.yaml", "--config", CONFIGS[next(iter(CONFIGS))])
    encoder = model.network.encoder.eval()
    chars = model.network.embedder.char_features.eval()
    sentences = [example["tokens"] for example in read_conllu(test_file)]
    lengths = [len(tokens) for tokens in sentences]
    generator = torch.Generator().manual_seed(0)
    rows = []
    for batch_size in (32, 256):
        batches, spellings = [], []
        for indices in length_sorted_batches(lengths, batch_size):
            size = torch.tensor([lengths[i] for i in indices])
            batches.append(
                (torch.randn(len(indices), int(size.max()), encoder.rnn.input_size), size)
            )
            # the batch's distinct words, as random characters of their lengths (cut at 30)
            words = {token[:30] for i in indices for token in sentences[i]}
            spelled = torch.zeros(len(words), max(len(w) for w in words), dtype=torch.long)
            for row, word in enumerate(words):
                spelled[row, : len(word)] = torch.randint(
                    1, chars.embedding.num_embeddings, (len(word),), generator=generator
                )
            spellings.append((spelled,))
        for what, module, inputs in (
            ("POS encoder, UD EWT test", encoder, batches),
            ("POS char BiLSTM, each batch's distinct words of UD EWT test,", chars, spellings),
        ):
            packed = best_of_3(forward, with_run(module, "packed"), inputs)
            padded = best_of_3(forward, with_run(module, "padded"), inputs)
            rows.append(
                f"| inference, {what} in sorted batches of {batch_size} "
                f"| {1000 * packed:,.0f} | {1000 * padded:,.0f} | {packed / padded:.2f} |"
            )
    return rows


def ten_steps(optimizer) -> None:
    for _ in range(10):
        optimizer.step()


def adam_rows() -> list[str]:
    model, _ = from_config("configs/base/trainer.yaml", "--config", CONFIGS[list(CONFIGS)[1]])
    results = {}
    for kind in ("foreach", "fused"):
        torch.manual_seed(0)
        parameters = [p.detach().clone().requires_grad_() for p in model.network.parameters()]
        for p in parameters:
            p.grad = torch.randn_like(p)
        optimizer = torch.optim.Adam(parameters, lr=0.002, betas=(0.9, 0.9), **{kind: True})
        results[kind] = (best_of_3(ten_steps, optimizer) / 10, parameters)
    difference = max(
        float((a - b).detach().abs().max())
        for a, b in zip(results["foreach"][1], results["fused"][1])
    )
    count = sum(p.numel() for p in results["fused"][1])
    foreach, fused = results["foreach"][0], results["fused"][0]
    return [
        "",
        f"Adam on the NER tagger's {count:,} parameters (one update, ms): foreach "
        f"{1000 * foreach:.2f}, fused {1000 * fused:.2f}, ratio {foreach / fused:.2f}; largest "
        f"difference of a parameter after 40 equal updates: {difference:.1e}.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30, help="training batches per config")
    parser.add_argument("--out", type=Path, default=None, help="write the tables here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data_dir = Path(os.environ.get("NLPTAG_DATA_DIR", "../shared/data"))
    training, char_cnn = training_rows(args.batches)
    lines = [
        "`NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.kernel_choices "
        f"--batches {args.batches}`; {cpu_model()}, 1 torch thread; CPU ms, best of 3 passes; "
        f"commit {commit()}, {today()}",
        "",
        "| encoder run | packed (ms) | padded (ms) | packed / padded |",
        "| --- | ---: | ---: | ---: |",
        *training,
        *inference_rows(data_dir / "ud_en_ewt" / "en_ewt-ud-test.conllu"),
        "",
        *char_cnn,
        *adam_rows(),
        *elementwise_rows(),
    ]
    report(lines, args.out)


if __name__ == "__main__":
    main()
