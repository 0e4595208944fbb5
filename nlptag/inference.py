"""Run trained models from Python or the command line, loading checkpoints without unpickling."""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import LightningModule
from pytorch_lightning.cli import instantiate_module

from data_modules.batching import collate_tagging
from data_modules.tagging import encode_sentence
from nlptag.errors import NlptagError
from nlptag.vocabulary import Vocabulary

# Class paths a checkpoint may name; anything else is refused rather than imported.
TRUSTED_CLASS_PREFIXES = ("nlptag.", "data_modules.", "torch.optim.")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint read with ``torch.load(weights_only=True)``: tensors and plain
    types only; a checkpoint that needs unpickling of anything else is refused."""
    path = Path(path)
    if not path.is_file():
        raise NlptagError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise NlptagError(
            f"checkpoint {path} cannot be loaded safely (only tensors and plain types are "
            f"accepted): {first_line}"
        ) from None


def _check_class_paths(config: Any, where: str) -> None:
    if isinstance(config, dict):
        for key, value in config.items():
            if key in ("class_path", "_class_path") and not str(value).startswith(
                TRUSTED_CLASS_PREFIXES
            ):
                raise NlptagError(f"{where}: refusing untrusted class path {value!r}")
            _check_class_paths(value, where)
    elif isinstance(config, list):
        for value in config:
            _check_class_paths(value, where)


def module_from_checkpoint(
    checkpoint: dict[str, Any], where: str = "checkpoint"
) -> LightningModule:
    """Rebuild the task module from the checkpoint's hyperparameters and load its weights."""
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    hparams.pop("_instantiator", None)
    class_path = hparams.get("_class_path")
    if class_path is None:
        raise NlptagError(f"{where}: no model class recorded; was it trained with `nlptag fit`?")
    _check_class_paths(hparams, where)
    module_name, class_name = class_path.rsplit(".", 1)
    importlib.import_module(module_name)
    module = instantiate_module(LightningModule, hparams)
    module.load_state_dict(checkpoint["state_dict"])
    return module.eval()


def datamodule_state(checkpoint: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The data module's hyperparameters and saved state (its vocabularies)."""
    hparams = dict(checkpoint.get("datamodule_hyper_parameters") or {})
    class_name = str(hparams.get("_class_path", "")).rsplit(".", 1)[-1]
    if class_name not in checkpoint:
        raise NlptagError("checkpoint holds no data module state (vocabularies)")
    return hparams, checkpoint[class_name]


class Tagger:
    """A trained sequence tagger and its vocabularies: ``Tagger.from_checkpoint(path).tag(...)``."""

    def __init__(
        self,
        model: LightningModule,
        words: Vocabulary,
        chars: Vocabulary,
        max_word_length: int = 30,
        lowercase: bool = False,
        digits_to_zero: bool = False,
    ) -> None:
        self.model = model
        self.words = words
        self.chars = chars
        self.options = dict(
            max_word_length=max_word_length, lowercase=lowercase, digits_to_zero=digits_to_zero
        )

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Tagger:
        checkpoint = load_checkpoint(path)
        data_hparams, state = datamodule_state(checkpoint)
        return cls(
            module_from_checkpoint(checkpoint, str(path)),
            Vocabulary(state["words"]),
            Vocabulary(state["chars"]),
            int(data_hparams.get("max_word_length", 30)),
            bool(data_hparams.get("lowercase", False)),
            bool(data_hparams.get("digits_to_zero", False)),
        )

    @torch.inference_mode()
    def tag(self, sentences: Iterable[list[str]], batch_size: int = 64) -> list[list[str]]:
        """Tags for each sentence (a list of tokens)."""
        sentences = list(sentences)
        results: list[list[str]] = []
        for start in range(0, len(sentences), batch_size):
            chunk = sentences[start : start + batch_size]
            batch = collate_tagging(
                [encode_sentence(s, self.words, self.chars, **self.options) for s in chunk]
            )
            results += self.model.predict_step(batch, 0)
        return results


def tag_main(argv: list[str]) -> int:
    """``nlptag tag CHECKPOINT [FILE] [--text TEXT]``: whitespace-tokenised sentences in (one per
    line), ``token<TAB>tag`` lines out with a blank line after each sentence."""
    parser = argparse.ArgumentParser(prog="nlptag tag", description=tag_main.__doc__)
    parser.add_argument("checkpoint", help="a checkpoint written by `nlptag fit`")
    parser.add_argument("input", nargs="?", help="text file, one sentence per line (default stdin)")
    parser.add_argument("--text", action="append", help="a sentence to tag (repeatable)")
    args = parser.parse_args(argv)
    tagger = Tagger.from_checkpoint(args.checkpoint)
    if args.text:
        lines = args.text
    elif args.input:
        lines = Path(args.input).read_text(encoding="utf-8").splitlines()
    else:
        lines = sys.stdin.read().splitlines()
    sentences = [line.split() for line in lines if line.strip()]
    for tokens, tags in zip(sentences, tagger.tag(sentences)):
        print("\n".join(f"{token}\t{tag}" for token, tag in zip(tokens, tags)) + "\n")
    return 0
