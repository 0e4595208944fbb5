"""What the CRF costs: training steps and decoding, CRF head against softmax head, same model.

Sentences/s at batch sizes 32 and 256 on CoNLL-2003 training sentences, for the NER config's
network with its CRF head and with a softmax head in its place. Decoding is timed for the
Viterbi path alone and for Viterbi plus marginals (the per-token confidences).

    NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.crf_speed
"""

from __future__ import annotations

import argparse
import itertools

import torch

from benchmarks.common import from_config, machine, timed, today

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
        "decode": sentences / timed(decode_best, 3),
        "decode+conf": sentences / timed(decode_with_confidence, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/ner/conll2003.yaml")
    parser.add_argument("--sentences", type=int, default=1024, help="sentences per measurement")
    args = parser.parse_args()
    print(f"config: {args.config}; {machine()}; {today()}")
    print("head     batch  train sent/s  decode sent/s  decode+confidence sent/s")
    for batch_size in (32, 256):
        for name, override in (("crf", []), ("softmax", [SOFTMAX])):
            r = rates(args.config, override, batch_size, max(1, args.sentences // batch_size))
            print(
                f"{name:<8} {batch_size:>5}  {r['train']:>12.0f}  {r['decode']:>13.0f}"
                f"  {r['decode+conf']:>24.0f}"
            )


if __name__ == "__main__":
    main()
