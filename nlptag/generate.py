"""``nlptag generate``: sample text from a trained character language model (a bundle from
``nlptag export``, or a checkpoint)."""

from __future__ import annotations

import argparse

from nlptag.errors import NlptagError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nlptag generate",
        description="Sample text from a trained character language model; prints the prime "
        "followed by the sampled characters.",
    )
    parser.add_argument("bundle", help="a bundle directory from `nlptag export` (or a .ckpt)")
    parser.add_argument(
        "--prime", default="\n", help="text read before sampling (default: a newline)"
    )
    parser.add_argument("--length", type=int, default=500, help="characters to sample")
    parser.add_argument(
        "--temperature", type=float, default=1.0, help="softmax temperature; 0 is greedy"
    )
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k most likely")
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible sample")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.length < 0:
        raise NlptagError("--length must be >= 0")
    if args.temperature < 0:
        raise NlptagError("--temperature must be >= 0")
    if args.top_k is not None and args.top_k < 1:
        raise NlptagError("--top-k must be at least 1")
    if not args.prime:
        raise NlptagError("--prime must not be empty")
    from nlptag.predictors import LanguageModelPredictor, load

    predictor = load(args.bundle)
    if not isinstance(predictor, LanguageModelPredictor):
        raise NlptagError(f"{args.bundle} is a {predictor.task} model, not a language model")
    (text,) = predictor.predict(
        [args.prime],
        length=args.length,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
    )
    print(args.prime + text)
    return 0
