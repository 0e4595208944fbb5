"""What the CRF costs: training steps and decoding, CRF head against softmax head, same model.

Sentences/s at batch sizes 32 and 256 on CoNLL-2003 training sentences, for the NER config's
network with its CRF head and with a softmax head in its place. The head's loss is also timed
alone (forward + backward on precomputed encoder features, the part of a training step the CRF's
forward algorithm is in). Decoding is timed for the Viterbi path alone and for Viterbi plus
marginals (the per-token confidences).

    NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.crf_speed \
        --out benchmarks/results/crf_speed.md
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import torch

from benchmarks.common import commit, cpu_model, from_config, machine, report, timed, today

SOFTMAX = "--model.init_args.head=nlptag.models.heads.SoftmaxHead"


def rates(config: str, head_override: list[str], batch_size: int, batches: int) -> dict:
    torch.manual_seed(0)
    model, data = from_config(config, f"--data.init_args.batch_size={batch_size}", *head_override)
    data.setup("fit")
    loader = list(itertools.islice(iter(data.train_dataloader()), batches))
    sentences = sum(batch.words.size(0) for batch in loader)
    optimizer = torch.optim.Adam(model.parameters())

    def train() -> None:
        model.train()
        for batch in loader:
            optimizer.zero_grad()
            model.head.loss(model(batch), batch.tags, batch.mask).backward()
            optimizer.step()

    features = []
    with torch.inference_mode():
        model.eval()
        features = [(model(batch), batch.mask) for batch in loader]
    targets = [batch.tags for batch in loader]

    def head_loss() -> None:
        model.train()
        for (feats, mask), tags in zip(features, targets, strict=True):
            model.head.loss(feats.clone().requires_grad_(), tags, mask).backward()

    def decode_best() -> None:
        with torch.inference_mode():
            for feats, mask in features:
                if hasattr(model.head, "crf"):
                    model.head.crf.viterbi(model.head(feats), mask)
                else:
                    model.head.decode(feats, mask)

    def decode_with_confidence() -> None:
        with torch.inference_mode():
            for feats, mask in features:
                model.head.decode(feats, mask)

    return {
        "train": sentences / timed(train, 1),
        "loss": sentences / timed(head_loss, 3),
        "decode": sentences / timed(decode_best, 3),
        "decode+conf": sentences / timed(decode_with_confidence, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ner/conll2003.yaml")
    parser.add_argument("--sentences", type=int, default=1024, help="sentences per measurement")
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    args = parser.parse_args()
    lines = [
        f"`python -m benchmarks.crf_speed --sentences {args.sentences}`, config {args.config}; "
        f"{machine()}, {cpu_model()}; CPU seconds of the process; commit {commit()}, {today()}",
        "",
        "| NER config, sentences/s | batch | train step | head loss, forward + backward "
        "| Viterbi decode | Viterbi + marginals (confidences) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for batch_size in (32, 256):
        for name, override in (("CRF head", []), ("softmax head", [SOFTMAX])):
            r = rates(args.config, override, batch_size, max(1, args.sentences // batch_size))
            lines.append(
                f"| {name} | {batch_size} | {r['train']:,.0f} | {r['loss']:,.0f} "
                f"| {r['decode']:,.0f} "
                f"| {r['decode+conf']:,.0f} |"
            )
            print(lines[-1], flush=True)
    report(lines, args.out)


if __name__ == "__main__":
    main()
