"""Data module for translation: aligned source/target text files, subword tokenizers trained on
the training split (HF ``tokenizers``), and batches bucketed by source length.

Shapes: ``B`` batch, ``S`` longest source in subwords (``</s>`` included), ``T`` longest target
in subwords (``<s>`` and ``</s>`` included).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pytorch_lightning.utilities import rank_zero_info
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from torch.utils.data import DataLoader

from data_modules.base import EncodedSplitsDataModule
from data_modules.registry import get_spec, resolve_file
from nlptag.errors import DataFormatError, NlptagError, require_positive
from nlptag.text.encoding import (
    collate_translation,
    decode_subwords,
    encode_source,
    encode_target,
)
from nlptag.text.readers import read_lines
from nlptag.text.specials import BOS_ID, EOS_ID, PAD_ID, SUBWORD_SPECIALS, UNK_ID

SPLITS = ("train", "validation", "test")
SubwordModel = Literal["bpe", "unigram"]


def new_tokenizer(subword_model: SubwordModel, lowercase: bool) -> Tokenizer:
    """An untrained tokenizer: NFKC, whitespace runs to one space, no leading or trailing space,
    optionally lower case; then Metaspace words (``▁`` marks a preceding space), so the Metaspace
    decoder gives back the normalised text exactly."""
    model = models.BPE(unk_token="<unk>") if subword_model == "bpe" else models.Unigram()
    tokenizer = Tokenizer(model)
    steps = [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="always", split=True)
    return tokenizer


def train_tokenizer(
    texts: Iterable[str],
    subword_model: SubwordModel,
    vocab_size: int,
    min_frequency: int = 2,
    lowercase: bool = False,
) -> Tokenizer:
    """A subword tokenizer trained on ``texts``; ids 0-3 are ``<pad> <unk> <s> </s>``.

    ``vocab_size`` counts the specials; a small text may give fewer pieces, and BPE keeps every
    character of the text even if they are more.
    ``min_frequency`` (BPE only) is the fewest times a pair must occur to be merged.
    """
    tokenizer = new_tokenizer(subword_model, lowercase)
    if subword_model == "bpe":
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SUBWORD_SPECIALS),
            show_progress=False,
        )
    else:
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SUBWORD_SPECIALS),
            unk_token="<unk>",
            show_progress=False,
        )
    tokenizer.train_from_iterator(texts, trainer)
    ids = [tokenizer.token_to_id(token) for token in SUBWORD_SPECIALS]
    if ids != [PAD_ID, UNK_ID, BOS_ID, EOS_ID]:  # the trainers put specials first; make sure
        raise RuntimeError(f"special token ids {ids}, expected {[PAD_ID, UNK_ID, BOS_ID, EOS_ID]}")
    return tokenizer


def file_language(name: str) -> str:
    """The language code of a registry file name: ``train.de.gz`` -> ``de``."""
    return name.removesuffix(".gz").rsplit(".", 1)[-1]


@dataclass(frozen=True)
class ParallelSplit:
    """One split as read: its two files and their raw lines (``sources[i]`` translates to
    ``targets[i]``)."""

    source_path: Path
    target_path: Path
    sources: list[str]
    targets: list[str]


class ParallelTextDataModule(EncodedSplitsDataModule):
    """Sentence pairs for translation from a registered dataset (``multi30k``) or explicit files.

    Each split is two aligned UTF-8 files, one sentence per line, raw (not tokenised), optionally
    gzip-compressed. Explicit files are given as path prefixes, as in Joey NMT: with languages
    ``de`` -> ``en``, ``data.train_file: data/train`` reads ``data/train.de`` and
    ``data/train.en`` (each also found as ``.gz``). An explicit ``train_file`` replaces the
    dataset for every split; an explicit validation or test file alone replaces only its split
    (e.g. to test a multi30k model on another test set).

    Subwords: a BPE or Unigram tokenizer (HF ``tokenizers``) is trained on the training split
    only, one for both sides (``joint_vocabulary``) or one per side, and is deterministic for a
    given input. Text is normalised before it is split: NFKC, every whitespace run (tabs, no-break
    spaces) becomes one space, leading and trailing spaces are removed, and with ``lowercase``
    everything is lower-cased. Decoding gives back the normalised text exactly (characters never
    seen in training aside, which are ``<unk>`` and dropped). References for scoring are always
    the raw target lines (``references``); with ``lowercase`` score case-insensitively.

    Training pairs with an empty side are skipped, and those longer than ``max_source_tokens`` /
    ``max_target_tokens`` subwords are dropped; both are counted (``dropped``) and logged.
    Validation and test pairs are never dropped.

    The tokenizers are saved with the checkpoint (``state_dict``: their JSON) and, when fitting,
    as ``<trainer.default_root_dir>/tokenizers/{source,target}_tokenizer.json``
    (``Tokenizer.from_file`` reads them).

    Args:
        dataset: registry name (``multi30k``); ignored when ``train_file`` is given.
        source_language: language code of the source side (the files' last suffix, ``de``).
        target_language: language code of the target side (``en``).
        train_file: path prefix of the training pair (``data/train`` for ``data/train.de`` and
            ``data/train.en``, each optionally ``.gz``).
        validation_file: path prefix of the validation pair.
        test_file: path prefix of the test pair.
        predict_file: a file of source sentences, one per line, to translate with
            ``nlptag predict`` (default: the test split's sources).
        vocab_size: subword vocabulary size, specials included (of each side if not joint); a
            target, not a promise: small data runs out of merges, and BPE keeps every character
            of the training text even beyond it.
        joint_vocabulary: one tokenizer for both sides (the model may then tie the source and
            target embeddings), or one per side.
        subword_model: ``bpe`` (byte-pair encoding) or ``unigram`` (unigram language model).
        min_frequency: BPE merges only pairs seen at least this often (unused by unigram).
        lowercase: lower-case both sides before tokenising.
        max_source_tokens: training pairs whose source has more subwords are dropped.
        max_target_tokens: training pairs whose target has more subwords are dropped.
        batch_size: training pairs per batch (per process under DDP).
        eval_batch_size: pairs per validation, test and predict batch.
        num_workers: data loader worker processes.
        seed: seed of the training batch order.
    """

    def __init__(
        self,
        dataset: str | None = "multi30k",
        source_language: str = "de",
        target_language: str = "en",
        train_file: str | None = None,
        validation_file: str | None = None,
        test_file: str | None = None,
        predict_file: str | None = None,
        vocab_size: int = 8000,
        joint_vocabulary: bool = True,
        subword_model: SubwordModel = "bpe",
        min_frequency: int = 2,
        lowercase: bool = False,
        max_source_tokens: int = 100,
        max_target_tokens: int = 100,
        batch_size: int = 64,
        eval_batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if vocab_size <= len(SUBWORD_SPECIALS):
            raise NlptagError(f"data.vocab_size must be more than {len(SUBWORD_SPECIALS)}")
        require_positive(
            "data",
            max_source_tokens=max_source_tokens,
            max_target_tokens=max_target_tokens,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
        )
        self.save_hyperparameters()
        self._splits: dict[str, ParallelSplit | None] = {}
        self._encoded: dict[str, list[dict]] = {}
        self._saved_to: Path | None = None
        self._source_tokenizer: Tokenizer | None = None
        self._target_tokenizer: Tokenizer | None = None
        self.dropped: dict[str, int] = {"empty": 0, "too_long": 0}
        """Training pairs skipped for an empty side, and dropped for their length."""

    # --- reading ---------------------------------------------------------------------------
    def _check_languages(self) -> None:
        h = self.hparams
        if h.source_language == h.target_language:
            raise NlptagError(
                f"data.init_args.source_language and data.init_args.target_language are both "
                f"{h.source_language!r}"
            )

    def _prefix_file(self, split: str, prefix: str, language: str) -> Path:
        candidates = [Path(f"{prefix}.{language}"), Path(f"{prefix}.{language}.gz")]
        found = next((path for path in candidates if path.is_file()), None)
        if found is None:
            raise NlptagError(
                f"data.{split}_file: neither {candidates[0]} nor {candidates[1]} exists "
                f"(data.{split}_file is a path prefix, completed with the language code)"
            )
        return found

    def _dataset_file(self, split: str, side: str, language: str) -> Path | None:
        spec = get_spec(self.hparams.dataset)
        files = spec.splits.get(split)
        if not files:
            return None
        matching = [name for name in files if file_language(name) == language]
        if not matching:
            names = ", ".join(f.name for f in spec.files)
            languages = ", ".join(sorted({file_language(f.name) for f in spec.files}))
            raise NlptagError(
                f"data.init_args.{side}_language: dataset {spec.name!r} has no {language!r} "
                f"files (languages: {languages}; files: {names})"
            )
        return resolve_file(spec.name, matching[0])

    def split_paths(self, split: str) -> tuple[Path, Path] | None:
        """The (source, target) files of a split, or ``None`` when the split has none."""
        h = self.hparams
        self._check_languages()
        explicit = getattr(h, f"{split}_file")
        if explicit is not None:
            return (
                self._prefix_file(split, explicit, h.source_language),
                self._prefix_file(split, explicit, h.target_language),
            )
        if h.train_file is not None:
            return None  # explicit training data: the dataset is not used
        if h.dataset is None:
            raise NlptagError(
                "data: give a dataset name (data.dataset) or files "
                "(data.train_file, data.validation_file, data.test_file)"
            )
        source = self._dataset_file(split, "source", h.source_language)
        target = self._dataset_file(split, "target", h.target_language)
        return None if source is None or target is None else (source, target)

    def load_split(self, split: str) -> ParallelSplit | None:
        """The raw lines of a split's two files, read once; their line counts must agree."""
        if split not in self._splits:
            paths = self.split_paths(split)
            loaded = None
            if paths is not None:
                sources, targets = read_lines(paths[0]), read_lines(paths[1])
                if len(sources) != len(targets):
                    raise NlptagError(
                        f"data: the {split} files do not line up: {paths[0]} has "
                        f"{len(sources)} lines, {paths[1]} has {len(targets)}; a parallel corpus "
                        "needs one sentence per line on each side"
                    )
                if not sources:
                    raise DataFormatError(paths[0], None, "the file is empty")
                loaded = ParallelSplit(paths[0], paths[1], sources, targets)
            self._splits[split] = loaded
        return self._splits[split]

    def _required_split(self, split: str) -> ParallelSplit:
        loaded = self.load_split(split)
        if loaded is None:
            raise NlptagError(f"data: no {split} split; set data.{split}_file")
        return loaded

    def sources(self, split: str) -> list[str]:
        """The raw source sentences of a split (``train``, ``validation``, ``test`` or
        ``predict``), in file order, exactly as in the file."""
        if split == "predict":
            return self.predict_sources()
        return self._required_split(split).sources

    def references(self, split: str) -> list[str]:
        """The raw target sentences of a split, in file order, exactly as in the file: the
        references that detokenised translations are scored against."""
        return self._required_split(split).targets

    def predict_sources(self) -> list[str]:
        """The sentences ``nlptag predict`` translates: ``predict_file``, else the test
        sources."""
        if self.hparams.predict_file is not None:
            return read_lines(Path(self.hparams.predict_file))
        return self._required_split("test").sources

    # --- tokenizers (trained on the training split only) --------------------------------------
    def _training_pairs(self) -> list[int]:
        """Line numbers (from 0) of training pairs with text on both sides."""
        train = self._required_split("train")
        pairs = zip(train.sources, train.targets)
        kept = [i for i, (source, target) in enumerate(pairs) if source.strip() and target.strip()]
        self.dropped["empty"] = len(train.sources) - len(kept)
        if not kept:
            raise DataFormatError(train.source_path, None, "no sentence pairs with text")
        return kept

    def build_tokenizers(self) -> None:
        """Trains the tokenizers on the training split, unless they exist (trained or loaded)."""
        if self._source_tokenizer is not None:
            return
        h = self.hparams
        train = self._required_split("train")
        kept = self._training_pairs()
        sources = [train.sources[i] for i in kept]
        targets = [train.targets[i] for i in kept]
        options = (h.subword_model, h.vocab_size, h.min_frequency, h.lowercase)
        if h.joint_vocabulary:
            tokenizer = train_tokenizer(sources + targets, *options)
            self._source_tokenizer = self._target_tokenizer = tokenizer
        else:
            self._source_tokenizer = train_tokenizer(sources, *options)
            self._target_tokenizer = train_tokenizer(targets, *options)

    @property
    def source_tokenizer(self) -> Tokenizer:
        """The source side's tokenizer (the target's too when joint), trained on first use."""
        self.build_tokenizers()
        return self._source_tokenizer

    @property
    def target_tokenizer(self) -> Tokenizer:
        """The target side's tokenizer, trained on first use."""
        self.build_tokenizers()
        return self._target_tokenizer

    @property
    def source_vocab_size(self) -> int:
        """Source subword vocabulary size, specials included."""
        return self.source_tokenizer.get_vocab_size()

    @property
    def target_vocab_size(self) -> int:
        """Target subword vocabulary size, specials included."""
        return self.target_tokenizer.get_vocab_size()

    @property
    def shared_vocabulary(self) -> bool:
        """Whether one tokenizer serves both sides (same ids for the same pieces)."""
        return bool(self.hparams.joint_vocabulary)

    def state_dict(self) -> dict[str, str]:
        return {
            "source_tokenizer": self.source_tokenizer.to_str(),
            "target_tokenizer": self.target_tokenizer.to_str(),
        }

    def load_state_dict(self, state: dict[str, str]) -> None:
        joint = state["source_tokenizer"] == state["target_tokenizer"]
        if self.hparams.joint_vocabulary and not joint:
            raise NlptagError(
                "data: the checkpoint has one tokenizer per side, but "
                "data.init_args.joint_vocabulary is true; set it to false"
            )
        self._source_tokenizer = Tokenizer.from_str(state["source_tokenizer"])
        self._target_tokenizer = (
            self._source_tokenizer if joint else Tokenizer.from_str(state["target_tokenizer"])
        )
        self._encoded.clear()
        if self._saved_to is not None:
            self.save_tokenizers(self._saved_to)

    def save_tokenizers(self, directory: str | Path) -> Path:
        """Writes ``source_tokenizer.json`` and ``target_tokenizer.json`` (the same content when
        joint) into ``directory``; returns it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.source_tokenizer.save(str(directory / "source_tokenizer.json"))
        self.target_tokenizer.save(str(directory / "target_tokenizer.json"))
        return directory

    # --- encoding and decoding ------------------------------------------------------------------
    def encode_source(self, text: str) -> list[int]:
        """Subword ids of a source sentence, ``</s>`` included."""
        return encode_source(self.source_tokenizer, text)

    def encode_target(self, text: str) -> list[int]:
        """Subword ids of a target sentence between ``<s>`` and ``</s>``."""
        return encode_target(self.target_tokenizer, text)

    def source_pieces(self, text: str) -> list[str]:
        """The subwords of a source sentence as strings, ``</s>`` included (one per id of
        ``encode_source``, e.g. for attention heatmaps)."""
        return self.source_tokenizer.encode(text, add_special_tokens=False).tokens + ["</s>"]

    def normalize(self, text: str) -> str:
        """A sentence as the tokenizers see it; ``decode_target(encode_target(s))`` gives this."""
        return self.target_tokenizer.normalizer.normalize_str(text)

    def decode_target(self, ids: Iterable[int]) -> str:
        """Detokenised text of target ids: stops at the first ``</s>``, skips the other
        specials (``<unk>`` too)."""
        return decode_subwords(self.target_tokenizer, ids)

    def _encode_pairs(self, split: ParallelSplit, indices: Iterable[int]) -> Iterator[dict]:
        indices = list(indices)
        sources = self.source_tokenizer.encode_batch(
            [split.sources[i] for i in indices], add_special_tokens=False
        )
        targets = self.target_tokenizer.encode_batch(
            [split.targets[i] for i in indices], add_special_tokens=False
        )
        for i, source, target in zip(indices, sources, targets):
            yield {
                "source": source.ids + [EOS_ID],
                "target": [BOS_ID, *target.ids, EOS_ID],
                "index": i,
                "reference": split.targets[i],
            }

    def encoded_split(self, split: str) -> list[dict]:
        """The split encoded for the model; training pairs are filtered (see ``dropped``)."""
        if split not in self._encoded:
            data = self._required_split(split)
            if split != "train":
                self._encoded[split] = list(self._encode_pairs(data, range(len(data.sources))))
                return self._encoded[split]
            h = self.hparams
            kept = self._training_pairs()
            examples = [
                example
                for example in self._encode_pairs(data, kept)
                if len(example["source"]) - 1 <= h.max_source_tokens
                and len(example["target"]) - 2 <= h.max_target_tokens
            ]
            self.dropped["too_long"] = len(kept) - len(examples)
            if not examples:
                raise NlptagError(
                    "data: every training pair is longer than data.max_source_tokens or "
                    "data.max_target_tokens"
                )
            rank_zero_info(
                f"data: {len(examples)} of {len(data.sources)} training pairs kept; "
                f"{self.dropped['empty']} skipped with an empty side, "
                f"{self.dropped['too_long']} dropped as longer than {h.max_source_tokens} "
                f"source / {h.max_target_tokens} target subwords"
            )
            self._encoded[split] = examples
        return self._encoded[split]

    collate = staticmethod(collate_translation)

    @staticmethod
    def example_length(example: dict) -> int:
        return len(example["source"])

    def build_vocabularies(self) -> None:
        self.build_tokenizers()

    def setup(self, stage: str) -> None:
        super().setup(stage)
        trainer = self.trainer
        if stage == "fit" and trainer is not None and trainer.is_global_zero:
            self._saved_to = self.save_tokenizers(Path(trainer.default_root_dir) / "tokenizers")

    def predict_dataloader(self) -> DataLoader:
        encodings = self.source_tokenizer.encode_batch(
            self.predict_sources(), add_special_tokens=False
        )
        examples = [
            {"source": encoding.ids + [EOS_ID], "target": [], "index": i}
            for i, encoding in enumerate(encodings)
        ]
        return self.loader(examples, shuffle=False)
