"""Caption files in the Flickr8k format, read strictly: ``IMAGE_ID#N<TAB>caption`` lines, and
image lists (one image id, i.e. file name, per line). A line that breaks the format is one
:class:`~nlptag.errors.DataFormatError` naming the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nlptag.errors import DataFormatError
from nlptag.text.readers import text_lines


@dataclass
class Captions:
    """The captions of a file by image id, in file order, and the line each image first
    appears on (for messages)."""

    path: Path
    by_image: dict[str, list[str]] = field(default_factory=dict)
    first_line: dict[str, int] = field(default_factory=dict)


def read_captions(path: str | Path) -> Captions:
    """``IMAGE_ID#N<TAB>caption`` lines (blank lines skipped): every line needs a tab, an id
    with ``#`` and a number after it, and a caption with text."""
    path = Path(path)
    captions = Captions(path)
    for number, line in enumerate(text_lines(path), start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataFormatError(
                path, number, "expected IMAGE_ID#N<TAB>caption, found no tab in the line"
            )
        key, text = line.split("\t", 1)
        image, hash_sign, index = key.strip().rpartition("#")
        if not hash_sign or not image or not index.isdigit():
            raise DataFormatError(
                path, number, f"expected IMAGE_ID#N before the tab, found {key.strip()!r}"
            )
        if not text.strip():
            raise DataFormatError(path, number, f"the caption of {key.strip()} is empty")
        captions.by_image.setdefault(image, []).append(text.strip())
        captions.first_line.setdefault(image, number)
    if not captions.by_image:
        raise DataFormatError(path, None, "no captions in the file")
    return captions


def read_image_list(path: str | Path) -> list[tuple[int, str]]:
    """(line number, image id) of each non-blank line of an image list."""
    path = Path(path)
    images = [(n, line.strip()) for n, line in enumerate(text_lines(path), start=1) if line.strip()]
    if not images:
        raise DataFormatError(path, None, "the image list is empty")
    return images
