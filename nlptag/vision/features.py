"""Image features computed once and cached on disk: one safetensors file per image, keyed by the
encoder's name and the SHA-256 of the image file's bytes, so a renamed photo is found again and
an edited one is encoded again. Epochs after the first never run the CNN.

The cache lives in ``$NLPTAG_CACHE_DIR/features/<encoder>/`` (default ``~/.cache/nlptag``), never
inside the repository. Grids are stored in float16 (half the disk; the features are frozen).

Shapes: ``N`` images, ``R`` regions, ``K`` feature size.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from nlptag.errors import NlptagError
from nlptag.hashing import sha256_of
from nlptag.vision.encoders import ImageEncoder, build_encoder
from nlptag.vision.images import load_pixels


def default_cache_dir() -> Path:
    """``$NLPTAG_CACHE_DIR/features`` (default ``~/.cache/nlptag/features``)."""
    root = Path(os.environ.get("NLPTAG_CACHE_DIR", Path.home() / ".cache" / "nlptag"))
    return root / "features"


class FeatureCache:
    """The grids of one encoder for image files, extracted in batches when missing.

    Args:
        encoder: the encoder's name (built only when something must be extracted).
        directory: the cache root (default :func:`default_cache_dir`).
        batch_size: images per CNN batch during extraction.
    """

    def __init__(
        self, encoder: str, directory: str | Path | None = None, batch_size: int = 32
    ) -> None:
        self.encoder_name = encoder
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.batch_size = batch_size
        self._encoder: ImageEncoder | None = None
        self.extracted = 0
        """How many images this cache ran the encoder on (0 when everything was cached)."""

    @property
    def encoder(self) -> ImageEncoder:
        if self._encoder is None:
            self._encoder = build_encoder(self.encoder_name)
        return self._encoder

    def path_of(self, digest: str) -> Path:
        return self.directory / self.encoder_name / digest[:2] / f"{digest}.safetensors"

    def _read(self, path: Path) -> torch.Tensor | None:
        try:
            return load_file(str(path))["grid"]
        except (SafetensorError, OSError, KeyError):
            return None  # missing or damaged: extract again

    def _write(self, path: Path, grid: torch.Tensor) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        os.close(handle)
        try:
            save_file({"grid": grid.contiguous()}, temporary)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)

    def grids(self, paths: Sequence[str | Path], description: str = "features") -> torch.Tensor:
        """Grids (N, R, K) float16 of the image files ``paths``, from the cache or extracted
        (with a progress bar on stderr when it is a terminal). A missing or unreadable image is
        one :class:`NlptagError` naming the file."""
        digests = []
        for path in paths:
            if not Path(path).is_file():
                raise NlptagError(f"{path}: no such image file")
            digests.append(sha256_of(path))
        found: dict[str, torch.Tensor] = {}
        missing: list[int] = []
        for i, digest in enumerate(digests):
            if digest in found:
                continue
            grid = self._read(self.path_of(digest))
            if grid is None:
                missing.append(i)
                found[digest] = None  # type: ignore[assignment]  # placeholder, filled below
            else:
                found[digest] = grid
        missing = [i for i in missing if found[digests[i]] is None]
        if missing:
            show = sys.stderr.isatty()
            with tqdm(
                total=len(missing),
                desc=f"{description} ({self.encoder_name}, once)",
                unit="img",
                file=sys.stderr,
                disable=not show,
            ) as bar:
                for start in range(0, len(missing), self.batch_size):
                    batch = missing[start : start + self.batch_size]
                    chunk = []
                    for i in batch:
                        # another process sharing the cache may have extracted it meanwhile
                        grid = self._read(self.path_of(digests[i]))
                        if grid is None:
                            chunk.append(i)
                        else:
                            found[digests[i]] = grid
                    bar.update(len(batch) - len(chunk))
                    if not chunk:
                        continue
                    pixels = torch.stack([load_pixels(paths[i]) for i in chunk])
                    grid = self.encoder(pixels).to(torch.float16)
                    for i, row in zip(chunk, grid):
                        self._write(self.path_of(digests[i]), row.clone())
                        found[digests[i]] = row.clone()
                    self.extracted += len(chunk)
                    bar.update(len(chunk))
        return torch.stack([found[digest] for digest in digests])

    def encode_images(self, images: Sequence) -> torch.Tensor:
        """Grids (N, R, K) float32 of paths or PIL images, computed now (no cache): what a
        predictor does with images it is given."""
        pixels = torch.stack([load_pixels(image) for image in images])
        return self.encoder(pixels).float()
