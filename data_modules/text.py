"""Data module for character language models: one text, its character vocabulary, and batches of
contiguous streams cut into chunks for truncated backpropagation through time (TBPTT).

Shapes: ``N`` characters, ``S`` streams over all ranks, ``B`` streams of one rank (the batch),
``L`` characters per stream, ``T`` steps per chunk (``bptt_steps``).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from data_modules.base import DataModule
from data_modules.registry import get_spec, resolve_file
from nlptag.errors import DataFormatError, NlptagError, require_positive
from nlptag.text.encoding import LMBatch
from nlptag.text.readers import read_text
from nlptag.text.vocabulary import UNK, Vocabulary

SPLITS = ("train", "validation", "test")


def stream_layout(ids: torch.Tensor, num_streams: int) -> torch.Tensor:
    """Cut a text (N,) into ``num_streams`` contiguous streams, (S, L + 1) with L = (N - 1) // S.

    Stream ``s`` is ``ids[s * L : (s + 1) * L + 1]``: its L inputs and, shifted by one, their L
    targets, so neighbouring streams share one character. The last ``(N - 1) % S`` characters are
    not used.
    """
    length = (len(ids) - 1) // num_streams
    if length < 1:
        raise NlptagError(
            f"data: a text of {len(ids)} characters is too short for {num_streams} streams "
            "(batch_size x number of processes); lower data.batch_size"
        )
    return ids.unfold(0, length + 1, length)[:num_streams]


def rank_streams(ids: torch.Tensor, batch_size: int, world_size: int = 1, rank: int = 0):
    """The (B, L + 1) streams of one rank: the text is cut into ``batch_size * world_size``
    streams and rank ``r`` takes streams ``r * B`` to ``(r + 1) * B - 1``, so under DDP every rank
    reads different text and all ranks have the same number of chunks."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    streams = stream_layout(ids, batch_size * world_size)
    return streams[rank * batch_size : (rank + 1) * batch_size]


class StreamChunks(Dataset):
    """Item ``i`` is chunk ``i`` of all streams, an :class:`LMBatch` of T = ``bptt_steps`` steps
    (the last chunk may be shorter). Read in order, chunk ``i + 1`` continues chunk ``i`` in every
    row, so a model can carry its hidden state from one item to the next."""

    def __init__(self, streams: torch.Tensor, bptt_steps: int) -> None:
        if bptt_steps < 1:
            raise ValueError("bptt_steps must be at least 1")
        self.streams = streams  # (B, L + 1)
        self.bptt_steps = bptt_steps

    def __len__(self) -> int:
        return math.ceil((self.streams.size(1) - 1) / self.bptt_steps)

    def __getitem__(self, index: int) -> LMBatch:
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = index * self.bptt_steps
        end = min(start + self.bptt_steps, self.streams.size(1) - 1)
        return LMBatch(self.streams[:, start:end], self.streams[:, start + 1 : end + 1])


class CharLMDataModule(DataModule):
    """A text for character-level language modelling, read in order as ``batch_size`` streams.

    Without a validation file, the training text is split by position: the first
    ``1 - validation_fraction`` of its characters train, the rest validate (char-rnn and nanoGPT's
    convention for Tiny Shakespeare). Without a test file, ``nlptag test`` evaluates on the
    validation text. The character vocabulary is built from the training text; id 0 is ``<unk>``,
    the id of every character the training text does not have.

    Args:
        dataset: registry name (e.g. ``tinyshakespeare``); its ``all`` (or ``train``) file is read.
        train_file: explicit training text (UTF-8); overrides the dataset's files.
        validation_file: explicit validation text.
        test_file: explicit test text.
        validation_fraction: share of the training text held out when no validation file is given.
        batch_size: streams per batch (per process under DDP).
        bptt_steps: characters per chunk; gradients flow back at most this many steps.
        num_workers: data loader worker processes.
    """

    def __init__(
        self,
        dataset: str | None = None,
        train_file: str | None = None,
        validation_file: str | None = None,
        test_file: str | None = None,
        validation_fraction: float = 0.1,
        batch_size: int = 64,
        bptt_steps: int = 100,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if dataset is None and train_file is None:
            raise NlptagError(
                "data: give a dataset name (data.dataset) or a text (data.train_file)"
            )
        if dataset is not None:
            get_spec(dataset)  # fail early on an unknown name
        if not 0.0 < validation_fraction < 1.0:
            raise NlptagError("data.validation_fraction must be between 0 and 1")
        require_positive("data", batch_size=batch_size, bptt_steps=bptt_steps)
        self.save_hyperparameters()
        self._texts: dict[str, str | None] = {}
        self._encoded: dict[str, torch.Tensor] = {}
        self.chars: Vocabulary | None = None

    # --- reading ---------------------------------------------------------------------------
    def _read(self, path: Path) -> str:
        if not path.is_file():
            raise NlptagError(f"{path} does not exist or is not a file")
        text = read_text(path)
        if len(text) < 2:
            raise DataFormatError(path, None, "a language model needs at least 2 characters")
        return text

    def _dataset_text(self) -> str:
        spec = get_spec(self.hparams.dataset)
        files = spec.splits.get("train") or spec.splits.get("all")
        if not files:
            raise NlptagError(f"dataset {spec.name!r} has no 'train' or 'all' split")
        return self._read(resolve_file(spec.name, files[0]))

    def load_texts(self) -> None:
        """Reads the train, validation and (if given) test texts once."""
        if self._texts:
            return
        explicit = {s: getattr(self.hparams, f"{s}_file") for s in SPLITS}
        if explicit["train"] is not None:
            train = self._read(Path(explicit["train"]))
        else:
            train = self._dataset_text()
        if explicit["validation"] is not None:
            validation = self._read(Path(explicit["validation"]))
        else:
            cut = round(len(train) * (1.0 - self.hparams.validation_fraction))
            train, validation = train[:cut], train[cut:]
        test = self._read(Path(explicit["test"])) if explicit["test"] is not None else None
        self._texts = {"train": train, "validation": validation, "test": test}

    def text(self, split: str) -> str:
        """The text of a split; ``test`` is the validation text when no test file is given."""
        self.load_texts()
        if split == "test" and self._texts["test"] is None:
            split = "validation"
        return self._texts[split]

    # --- vocabulary (built from the training text only) ----------------------------------------
    def build_vocabulary(self) -> None:
        if self.chars is None:
            self.chars = Vocabulary([UNK, *sorted(set(self.text("train")))])

    @property
    def num_chars(self) -> int:
        """Vocabulary size, ``<unk>`` included."""
        self.build_vocabulary()
        return len(self.chars)

    @property
    def vocabulary(self) -> list[str]:
        """The characters in id order; entry 0 is ``<unk>``."""
        self.build_vocabulary()
        return list(self.chars.entries)

    def state_dict(self) -> dict[str, list[str]]:
        self.build_vocabulary()
        return {"chars": list(self.chars.entries)}

    def load_state_dict(self, state: dict[str, list[str]]) -> None:
        self.chars = Vocabulary(state["chars"])
        self._encoded.clear()

    # --- encoding and loading ------------------------------------------------------------------
    def encode(self, text: str) -> torch.Tensor:
        """Character ids (N,); characters outside the vocabulary get id 0 (``<unk>``)."""
        self.build_vocabulary()
        return torch.tensor(self.chars.ids(text), dtype=torch.long)

    def encoded(self, split: str) -> torch.Tensor:
        if split not in self._encoded:
            self._encoded[split] = self.encode(self.text(split))
        return self._encoded[split]

    def setup(self, stage: str) -> None:
        self.build_vocabulary()
        needed = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",)}
        for split in needed.get(stage, ()):
            self.encoded(split)

    def _loader(self, split: str) -> DataLoader:
        trainer = self.trainer
        streams = rank_streams(
            self.encoded(split),
            self.hparams.batch_size,
            world_size=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
        )
        # batch_size=None: each item already is a batch; no shuffling, so chunks stay in order
        return DataLoader(
            StreamChunks(streams, self.hparams.bptt_steps),
            batch_size=None,
            shuffle=False,
            num_workers=self.hparams.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
