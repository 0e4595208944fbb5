"""Data module for image captioning: photos and their captions (Flickr8k format), image
features from a frozen CNN computed once and cached, a word vocabulary from the training
captions, and batches bucketed by caption length.

Shapes: ``B`` batch, ``R`` regions, ``K`` feature size, ``T`` longest caption in words
(``<s>`` and ``</s>`` included).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from pytorch_lightning.utilities import rank_zero_info
from torch.utils.data import DataLoader, Dataset

from data_modules.base import EncodedSplitsDataModule
from data_modules.batching import BucketBatchSampler
from data_modules.registry import get_spec, resolve_file
from nlptag.errors import DataFormatError, NlptagError
from nlptag.text.captions import Captions, read_captions, read_image_list
from nlptag.text.ptb import tokenize_caption
from nlptag.text.specials import BOS_ID, EOS_ID, PAD_ID, SUBWORD_SPECIALS
from nlptag.text.vocabulary import Vocabulary
from nlptag.vision.encoders import EncoderName, feature_size_of
from nlptag.vision.features import FeatureCache

SPLITS = ("train", "validation", "test")
KNOWN_ORPHANS = {"flickr8k": frozenset({"2258277193_586949ec62.jpg.1"})}
"""Caption ids of a registered dataset known to have no photo (an artifact of the original
Flickr8k release, in no split): skipped instead of refused."""


class CaptionBatch(NamedTuple):
    """grids (B, R, K) float16; captions (B, T) ``<s> .. </s>`` padded with ``<pad>``; lengths
    (B,) with ``<s>`` and ``</s>``; the image ids; all reference captions of each image (raw)."""

    grids: torch.Tensor
    captions: torch.Tensor
    lengths: torch.Tensor
    images: tuple[str, ...]
    references: tuple[tuple[str, ...], ...]


def collate_captions(examples: list[dict]) -> CaptionBatch:
    """Examples (``grid``, ``caption`` ids, ``image``, ``references``) -> a padded batch."""
    lengths = [len(example["caption"]) for example in examples]
    time = max(lengths)
    captions = [e["caption"] + [PAD_ID] * (time - len(e["caption"])) for e in examples]
    return CaptionBatch(
        grids=torch.stack([example["grid"] for example in examples]),
        captions=torch.tensor(captions, dtype=torch.long).view(len(examples), time),
        lengths=torch.tensor(lengths, dtype=torch.long),
        images=tuple(example["image"] for example in examples),
        references=tuple(tuple(example["references"]) for example in examples),
    )


class ImageFeatures:
    """The grids of a list of image files, loaded (or extracted) on first use and kept in
    memory; ``preload`` does all of them at once, with the extraction's progress bar."""

    def __init__(self, paths: Sequence[Path], cache: FeatureCache, description: str) -> None:
        self.paths = list(paths)
        self.cache = cache
        self.description = description
        self.grids: dict[int, torch.Tensor] = {}

    def preload(self) -> None:
        todo = [i for i in range(len(self.paths)) if i not in self.grids]
        if todo:
            grids = self.cache.grids([self.paths[i] for i in todo], self.description)
            self.grids.update(zip(todo, grids))

    def get(self, indices: Sequence[int]) -> list[torch.Tensor]:
        todo = sorted({i for i in indices if i not in self.grids})
        if todo:  # only batches of a partial run (fast_dev_run) come here
            grids = self.cache.grids([self.paths[i] for i in todo], self.description)
            self.grids.update(zip(todo, grids))
        return [self.grids[i] for i in indices]


class CaptionDataset(Dataset):
    """Encoded examples whose ``grid`` is fetched per batch (``__getitems__``)."""

    def __init__(self, examples: list[dict], features: ImageFeatures) -> None:
        self.examples = examples
        self.features = features

    def __len__(self) -> int:
        return len(self.examples)

    def __getitems__(self, indices: list[int]) -> list[dict]:
        examples = [self.examples[i] for i in indices]
        grids = self.features.get([example["row"] for example in examples])
        return [{**example, "grid": grid} for example, grid in zip(examples, grids)]

    def __getitem__(self, index: int) -> dict:
        return self.__getitems__([index])[0]


class CaptionDataModule(EncodedSplitsDataModule):
    """Photos with captions from a registered dataset (``flickr8k``) or explicit files.

    A split is an image list (one image file name per line) plus the captions file
    (``IMAGE_ID#N<TAB>caption`` lines, several per image) and the folder of the photos. Every
    image of a split must have a file and at least one caption; every caption line must name an
    image of the folder (Flickr8k's one known orphan id aside); breaking either is one error
    naming the file and line.

    Training uses every caption of every training image (teacher forcing); validation and test
    score one generated caption per image against all its captions. Captions are tokenised as
    the COCO evaluation does (PTB rules, lower case, punctuation dropped:
    :func:`~nlptag.text.ptb.tokenize_caption`); the vocabulary is the training words seen at
    least ``min_count`` times, after ``<pad> <unk> <s> </s>``; it is saved with the checkpoint.

    Image features come from a frozen ``encoder`` and are cached on disk by image content
    (:class:`~nlptag.vision.features.FeatureCache`): the first run extracts them once (about
    15 CPU minutes for Flickr8k's 8,091 photos with EfficientNet-Lite0), later runs and epochs
    only read them.

    Args:
        dataset: registry name (``flickr8k``, from ``$NLPTAG_DATA_DIR/flickr8k``); ignored when
            ``captions_file`` is given.
        captions_file: explicit captions file (``IMAGE_ID#N<TAB>caption``).
        image_dir: folder of the photos named by the image ids (default: ``Images`` beside the
            captions file).
        train_images: image list of the training split.
        validation_images: image list of the validation split.
        test_images: image list of the test split.
        encoder: ``efficientnet-lite0`` (ImageNet CNN, needs the ``vision`` extra) or
            ``colour-grid`` (mean colours of 7 x 7 cells; no weights).
        feature_cache_dir: where features are cached (default ``$NLPTAG_CACHE_DIR/features``).
        min_count: training words seen fewer times are ``<unk>``.
        max_caption_words: training captions with more words are dropped.
        batch_size: training captions per batch.
        eval_batch_size: images per validation and test batch.
        num_workers: data loader worker processes.
        seed: seed of the training batch order.
    """

    def __init__(
        self,
        dataset: str | None = "flickr8k",
        captions_file: str | None = None,
        image_dir: str | None = None,
        train_images: str | None = None,
        validation_images: str | None = None,
        test_images: str | None = None,
        encoder: EncoderName = "efficientnet-lite0",
        feature_cache_dir: str | None = None,
        min_count: int = 5,
        max_caption_words: int = 40,
        batch_size: int = 64,
        eval_batch_size: int = 100,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if min_count < 1 or max_caption_words < 1:
            raise NlptagError("data.min_count and data.max_caption_words must be >= 1")
        self.save_hyperparameters()
        self.cache = FeatureCache(encoder, feature_cache_dir)
        self.words: Vocabulary | None = None
        self._captions: Captions | None = None
        self._splits: dict[str, list[str] | None] = {}
        self._features: dict[str, ImageFeatures] = {}
        self._encoded: dict[str, list[dict]] = {}

    # --- files -----------------------------------------------------------------------------
    def _registered(self, name: str) -> Path:
        return resolve_file(self.hparams.dataset, name)

    def captions_path(self) -> Path:
        h = self.hparams
        if h.captions_file is not None:
            path = Path(h.captions_file)
            if not path.is_file():
                raise NlptagError(f"data.captions_file: {path} does not exist or is not a file")
            return path
        if h.dataset is None:
            raise NlptagError("data: give a dataset name (data.dataset) or data.captions_file")
        return self._registered(get_spec(h.dataset).splits["train"][0])

    def image_dir(self) -> Path:
        h = self.hparams
        folder = Path(h.image_dir) if h.image_dir else self.captions_path().parent / "Images"
        if not folder.is_dir():
            raise NlptagError(f"data.image_dir: {folder} is not a folder of images")
        return folder

    def split_list(self, split: str) -> Path | None:
        h = self.hparams
        explicit = getattr(h, f"{split}_images")
        if explicit is not None:
            path = Path(explicit)
            if not path.is_file():
                raise NlptagError(f"data.{split}_images: {path} does not exist or is not a file")
            return path
        if h.captions_file is not None or h.dataset is None:
            return None
        files = get_spec(h.dataset).splits.get(split)
        return self._registered(files[1]) if files else None

    @property
    def captions(self) -> Captions:
        """The captions file, read once and checked against the image folder."""
        if self._captions is None:
            captions = read_captions(self.captions_path())
            present = set(os.listdir(self.image_dir()))
            orphans = KNOWN_ORPHANS.get(self.hparams.dataset or "", frozenset())
            if self.hparams.captions_file is not None:
                orphans = frozenset()
            for image in list(captions.by_image):
                if image in present:
                    continue
                if image in orphans:
                    del captions.by_image[image]
                    continue
                raise DataFormatError(
                    captions.path,
                    captions.first_line[image],
                    f"unknown image id {image!r}: no such file in {self.image_dir()}",
                )
            self._captions = captions
        return self._captions

    def split_images(self, split: str) -> list[str] | None:
        """The image ids of a split, checked: each has a file and captions."""
        if split not in self._splits:
            path = self.split_list(split)
            images = None
            if path is not None:
                folder = self.image_dir()
                images = []
                for number, image in read_image_list(path):
                    if not (folder / image).is_file():
                        raise DataFormatError(
                            path, number, f"image {image!r} has no file in {folder}"
                        )
                    if image not in self.captions.by_image:
                        raise DataFormatError(
                            path,
                            number,
                            f"image {image!r} has no captions in {self.captions.path}",
                        )
                    images.append(image)
            self._splits[split] = images
        return self._splits[split]

    def _required(self, split: str) -> list[str]:
        images = self.split_images(split)
        if images is None:
            raise NlptagError(f"data: no {split} split; set data.{split}_images")
        return images

    # --- vocabulary ------------------------------------------------------------------------
    def build_vocabularies(self) -> None:
        if self.words is not None:
            return
        words = [
            word
            for image in self._required("train")
            for caption in self.captions.by_image[image]
            for word in tokenize_caption(caption)
        ]
        self.words = Vocabulary.build(words, self.hparams.min_count, SUBWORD_SPECIALS)

    @property
    def vocabulary(self) -> list[str]:
        """The words in id order, ``<pad> <unk> <s> </s>`` first (linked into the model)."""
        self.build_vocabularies()
        return list(self.words.entries)

    @property
    def feature_size(self) -> int:
        """K of the encoder's features (linked into the model)."""
        return feature_size_of(self.hparams.encoder)

    def state_dict(self) -> dict[str, list[str]]:
        return {"words": self.vocabulary}

    def load_state_dict(self, state: dict[str, list[str]]) -> None:
        self.words = Vocabulary(state["words"])
        self._encoded.clear()

    def encode_caption(self, caption: str) -> list[int]:
        """``<s>`` + word ids + ``</s>``."""
        return [BOS_ID, *self.words.ids(tokenize_caption(caption)), EOS_ID]

    def decode(self, ids: Sequence[int]) -> str:
        """Words of ids up to ``</s>``, specials and ``<unk>`` left out, joined by spaces."""
        out = []
        for i in ids:
            if i == EOS_ID:
                break
            if i >= len(SUBWORD_SPECIALS):
                out.append(self.words.entries[i])
        return " ".join(out)

    # --- examples and loaders -----------------------------------------------------------------
    def features(self, split: str) -> ImageFeatures:
        if split not in self._features:
            folder = self.image_dir()
            paths = [folder / image for image in self._required(split)]
            self._features[split] = ImageFeatures(paths, self.cache, f"{split} features")
        return self._features[split]

    def encoded_split(self, split: str) -> list[dict]:
        if split not in self._encoded:
            self.build_vocabularies()
            images = self._required(split)
            examples, dropped = [], 0
            for row, image in enumerate(images):
                references = self.captions.by_image[image]
                chosen = references if split == "train" else references[:1]
                for caption in chosen:
                    ids = self.encode_caption(caption)
                    if split == "train" and len(ids) - 2 > self.hparams.max_caption_words:
                        dropped += 1
                        continue
                    examples.append(
                        {"row": row, "image": image, "caption": ids, "references": references}
                    )
            if split == "train":
                rank_zero_info(
                    f"data: {len(examples)} training captions of {len(images)} images "
                    f"({dropped} longer than {self.hparams.max_caption_words} words dropped); "
                    f"vocabulary of {len(self.words)} words"
                )
            self._encoded[split] = examples
        return self._encoded[split]

    collate = staticmethod(collate_captions)

    @staticmethod
    def example_length(example: dict) -> int:
        return len(example["caption"])

    def setup(self, stage: str) -> None:
        super().setup(stage)
        trainer = self.trainer
        partial = trainer is not None and bool(trainer.fast_dev_run)
        for split in ("train", "validation", "test"):
            wanted = {"fit": ("train", "validation"), "validate": ("validation",)}
            if split in wanted.get(stage, (stage,)) and not partial:
                self.features(split).preload()  # the one-time extraction, with a progress bar

    def loader(self, examples: list[dict], shuffle: bool, split: str = "train") -> DataLoader:
        trainer = self.trainer
        batch_size = self.hparams.batch_size if shuffle else self.hparams.eval_batch_size
        sampler = BucketBatchSampler(
            [len(example["caption"]) for example in examples],
            batch_size,
            shuffle=shuffle,
            seed=self.hparams.seed,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
        )
        return DataLoader(
            CaptionDataset(examples, self.features(split)),
            batch_sampler=sampler,
            collate_fn=collate_captions,
            num_workers=self.hparams.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.encoded_split("train"), True, "train")

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.encoded_split("validation"), False, "validation")

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.encoded_split("test"), False, "test")
