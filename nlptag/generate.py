"""``nlptag generate``: sample text from a trained character language model checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from pytorch_lightning.cli import instantiate_module

from data_modules.text import CharLMDataModule
from nlptag.errors import NlptagError
from nlptag.tasks.language_model import CharLanguageModel


def load_language_model(path: str | Path) -> CharLanguageModel:
    """The model of a checkpoint, on the CPU in eval mode, rebuilt from its hyperparameters; its
    vocabulary comes from the data module's state saved with the checkpoint when there is one.

    The checkpoint is read with ``torch.load(weights_only=True)``: plain tensors and containers
    only, no pickled code.
    """
    path = Path(path)
    if not path.is_file():
        raise NlptagError(f"checkpoint {path} does not exist or is not a file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated file, or not a checkpoint
        raise NlptagError(f"cannot read checkpoint {path}: {error}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise NlptagError(f"{path} is not a Lightning checkpoint")
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    hparams.pop("_instantiator", None)
    data_state = checkpoint.get(CharLMDataModule.__qualname__)
    if isinstance(data_state, dict) and "chars" in data_state:
        hparams["vocabulary"] = list(data_state["chars"])
        hparams["num_chars"] = len(data_state["chars"])
    if "vocabulary" not in hparams:
        raise NlptagError(f"{path} holds no character vocabulary; is it a language model?")
    try:
        model = instantiate_module(CharLanguageModel, hparams)
    except Exception as error:
        raise NlptagError(f"{path} is not a CharLanguageModel checkpoint ({error})") from None
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nlptag generate",
        description="Sample text from a trained character language model; prints the prime "
        "followed by the sampled characters.",
    )
    parser.add_argument("checkpoint", help="a .ckpt file written by `nlptag fit`")
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
    model = load_language_model(args.checkpoint)
    generator = torch.Generator()
    if args.seed is not None:
        generator.manual_seed(args.seed)
    else:
        generator.seed()
    text = model.generate(args.prime, args.length, args.temperature, args.top_k, generator)
    print(args.prime + text)
    return 0
