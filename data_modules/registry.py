"""Known datasets by name, and where their files come from.

A file is looked for, in order, in the mirror ``$NLPTAG_DATA_DIR/<dataset>/<file>``, in the cache
``$NLPTAG_CACHE_DIR/<dataset>/<file>`` (default ``~/.cache/nlptag``), and is otherwise downloaded
from its upstream URL into the cache, after checking its SHA-256 sum.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nlptag
from nlptag.errors import NlptagError
from nlptag.hashing import sha256_of


@dataclass(frozen=True)
class RemoteFile:
    """One upstream file: the name it has in the mirror and cache, its URL and SHA-256 sum."""

    name: str
    url: str
    sha256: str


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its format, its files, and which files make each split."""

    name: str
    format: str
    files: tuple[RemoteFile, ...]
    splits: dict[str, tuple[str, ...]]
    embedded: bool = False
    """Shipped inside the package (``nlptag/resources/<name>/``): no mirror, cache or download."""

    def file(self, name: str) -> RemoteFile:
        return next(f for f in self.files if f.name == name)


_UD = "https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/r2.16/"
_CONLL = (
    "https://raw.githubusercontent.com/synalp/NER/"
    "c0ea07c81ec3512b5047dcd804b0ac2b10a3bdfc/corpus/CoNLL-2003/"
)
_M30K = (
    "https://raw.githubusercontent.com/multi30k/dataset/"
    "a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw/"
)
_SST2 = (
    "https://raw.githubusercontent.com/eyalbd2/Reproducing-AutoPrompt/"
    "6288fb5bec9c572f2492875ae0111df5b6daed11/glue_data/SST-2/"
)
_CHAR_RNN = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/"
    "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/"
)

_F8K = (
    "https://raw.githubusercontent.com/ainu412/Image-Captioning/"
    "6dd649648d8cfc8272cc06e62475c11aa64d7127/Flickr8k_text/"
)
_F8K_TEST = (
    "https://raw.githubusercontent.com/edwardcruzcruz/Describiendo_imagenes_keras/"
    "5c9a0ffed365098d0df880dd73c1908d2228cc28/Flickr8k_text/"
)

EMBEDDED_ROOT = Path(nlptag.__file__).resolve().parent / "resources"

REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="demo",
            format="conllu",
            files=(RemoteFile("train.conllu", "", ""), RemoteFile("dev.conllu", "", "")),
            splits={"train": ("train.conllu",), "validation": ("dev.conllu",)},
            embedded=True,
        ),
        DatasetSpec(
            name="ud_en_ewt",
            format="conllu",
            files=(
                RemoteFile(
                    "en_ewt-ud-train.conllu",
                    _UD + "en_ewt-ud-train.conllu",
                    "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b",
                ),
                RemoteFile(
                    "en_ewt-ud-dev.conllu",
                    _UD + "en_ewt-ud-dev.conllu",
                    "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6",
                ),
                RemoteFile(
                    "en_ewt-ud-test.conllu",
                    _UD + "en_ewt-ud-test.conllu",
                    "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd",
                ),
            ),
            splits={
                "train": ("en_ewt-ud-train.conllu",),
                "validation": ("en_ewt-ud-dev.conllu",),
                "test": ("en_ewt-ud-test.conllu",),
            },
        ),
        DatasetSpec(
            name="conll2003",
            format="conll-columns",
            files=(
                RemoteFile(
                    "eng.train",
                    _CONLL + "eng.train",
                    "eac0822f501353f265383ddf1edb0dcd42a1b6eefd3e383d7074db98c38eb41c",
                ),
                RemoteFile(
                    "eng.testa",
                    _CONLL + "eng.testa",
                    "aedc4ccbd1ae9795feaa0e86fe72d195b0258abed9d705b630d1c889276fac1e",
                ),
                RemoteFile(
                    "eng.testb",
                    _CONLL + "eng.testb",
                    "0632f32c090ef31c223135b7fee3187a7cf8e65c4015c7866bb7783428cdd9a6",
                ),
            ),
            splits={
                "train": ("eng.train",),
                "validation": ("eng.testa",),
                "test": ("eng.testb",),
            },
        ),
        DatasetSpec(
            name="multi30k",
            format="parallel-text-gz",
            files=tuple(
                RemoteFile(f"{stem}.{lang}.gz", f"{_M30K}{stem}.{lang}.gz", sha)
                for stem, lang, sha in [
                    (
                        "train",
                        "de",
                        "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
                    ),
                    (
                        "train",
                        "en",
                        "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
                    ),
                    (
                        "val",
                        "de",
                        "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
                    ),
                    (
                        "val",
                        "en",
                        "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
                    ),
                    (
                        "test_2016_flickr",
                        "de",
                        "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
                    ),
                    (
                        "test_2016_flickr",
                        "en",
                        "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
                    ),
                ]
            ),
            splits={
                "train": ("train.de.gz", "train.en.gz"),
                "validation": ("val.de.gz", "val.en.gz"),
                "test": ("test_2016_flickr.de.gz", "test_2016_flickr.en.gz"),
            },
        ),
        DatasetSpec(
            name="sst2",
            format="tsv",
            files=(
                RemoteFile(
                    "train.tsv",
                    _SST2 + "train_full.tsv",
                    "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
                ),
                RemoteFile(
                    "dev.tsv",
                    _SST2 + "dev.tsv",
                    "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
                ),
                RemoteFile(
                    "test.tsv",
                    _SST2 + "test.tsv",
                    "69a938605609b3e6663b4487918fe1565eb293734e6e520d0366d1d412fd2a13",
                ),
            ),
            splits={"train": ("train.tsv",), "validation": ("dev.tsv",), "test": ("test.tsv",)},
        ),
        DatasetSpec(
            # research use only: the photos (flickr8k/Images/*.jpg beside these files) belong to
            # their Flickr owners and are not downloaded; use a mirror (NLPTAG_DATA_DIR). The
            # upstream test list has 13 appended lines, so its download fails the checksum.
            name="flickr8k",
            format="image-captions",
            files=tuple(
                RemoteFile(name, (_F8K_TEST if "test" in name else _F8K) + name, sha)
                for name, sha in [
                    (
                        "Flickr8k.token.txt",
                        "1e1f3a371ba1a1bf742e6930521c037e046b2bf3fcc2390ba8405e0301ed7689",
                    ),
                    (
                        "Flickr_8k.trainImages.txt",
                        "e330ddd5156a4c2d2e2b67bc587e70e588f2d132bd8a10dc54dcb71e58115d8e",
                    ),
                    (
                        "Flickr_8k.devImages.txt",
                        "18ba829f47f6df1cb830bf7f0506e2ddf333818925299babbd1bbcaf50fdc504",
                    ),
                    (
                        "Flickr_8k.testImages.txt",
                        "c0924146c131458ceba45da59670fe9520eadce1e5cafffa16a817672a9b1f17",
                    ),
                ]
            ),
            splits={
                "train": ("Flickr8k.token.txt", "Flickr_8k.trainImages.txt"),
                "validation": ("Flickr8k.token.txt", "Flickr_8k.devImages.txt"),
                "test": ("Flickr8k.token.txt", "Flickr_8k.testImages.txt"),
            },
        ),
        DatasetSpec(
            name="tinyshakespeare",
            format="text",
            files=(
                RemoteFile(
                    "input.txt",
                    _CHAR_RNN + "input.txt",
                    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                ),
            ),
            splits={"all": ("input.txt",)},
        ),
    ]
}


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name``; an unknown name is a user error listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise NlptagError(f"unknown dataset name {name!r}; known datasets: {known}") from None


def cache_dir() -> Path:
    return Path(os.environ.get("NLPTAG_CACHE_DIR", Path.home() / ".cache" / "nlptag"))


def resolve_file(dataset: str, file_name: str) -> Path:
    """Local path of one of a dataset's files: mirror, then cache, then a verified download."""
    spec = get_spec(dataset)
    remote = spec.file(file_name)
    if spec.embedded:
        return EMBEDDED_ROOT / dataset / file_name
    looked = []
    mirror_root = os.environ.get("NLPTAG_DATA_DIR")
    if mirror_root:
        mirrored = Path(mirror_root) / dataset / file_name
        if mirrored.is_file():
            return mirrored
        looked.append(f"the mirror {mirrored} (from NLPTAG_DATA_DIR)")
    else:
        looked.append("no mirror (NLPTAG_DATA_DIR is not set)")
    cached = cache_dir() / dataset / file_name
    if cached.is_file():
        return cached
    looked.append(f"the cache {cached}")
    if os.environ.get("NLPTAG_OFFLINE") == "1":
        raise NlptagError(
            f"dataset {dataset!r}: file {file_name} not found; looked in {', '.join(looked)}; "
            f"downloads are off (NLPTAG_OFFLINE=1). Set NLPTAG_DATA_DIR to a folder holding "
            f"{dataset}/{file_name}."
        )
    _download(remote, cached, looked)
    return cached


def _download(remote: RemoteFile, target: Path, looked: list[str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(remote.url, timeout=30) as r:
            while block := r.read(1 << 20):
                out.write(block)
        actual = sha256_of(Path(partial))
        if actual != remote.sha256:
            raise NlptagError(
                f"download of {remote.url} has SHA-256 {actual}, expected {remote.sha256}; "
                "the file was not kept"
            )
        os.replace(partial, target)
    except (urllib.error.URLError, OSError) as error:
        raise NlptagError(
            f"file {remote.name} not found; looked in {', '.join(looked)}, and the download "
            f"from {remote.url} failed ({error}). Set NLPTAG_DATA_DIR to a folder holding "
            f"<dataset>/{remote.name}, or pass the files explicitly."
        ) from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
