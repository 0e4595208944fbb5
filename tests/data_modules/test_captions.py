"""The captioning data module: splits, vocabulary, batches, the one-time feature extraction,
and bad input reported as one line naming the file and line."""

from __future__ import annotations

import pytest

from data_modules.captions import CaptionDataModule
from data_modules.registry import get_spec
from nlptag.cli import main
from nlptag.errors import DataFormatError, NlptagError
from nlptag.text.specials import SUBWORD_SPECIALS
from tests.captioning_fixtures import fit_args, write_shapes


@pytest.fixture
def shapes(tmp_path):
    return write_shapes(tmp_path, {"train": 1, "validation": 1, "test": 1})


def module(files, **overrides) -> CaptionDataModule:
    lists = files["lists"]
    arguments = dict(
        captions_file=str(files["captions"]),
        image_dir=str(files["images"]),
        train_images=str(lists["train"]),
        validation_images=str(lists["validation"]),
        test_images=str(lists["test"]),
        encoder="colour-grid",
        feature_cache_dir=str(files["captions"].parent / "features"),
        min_count=1,
        batch_size=4,
    )
    return CaptionDataModule(**{**arguments, **overrides})


def test_vocabulary_examples_and_batches(shapes):
    data = module(shapes)
    assert data.vocabulary[:4] == list(SUBWORD_SPECIALS)
    assert set(data.vocabulary[4:]) == {
        "a",
        "on",
        "white",
        "red",
        "green",
        "blue",
        "square",
        "circle",
    }
    assert data.feature_size == 3
    data.setup("fit")
    assert len(data.encoded_split("train")) == 12  # 6 photos x 2 captions
    assert len(data.encoded_split("validation")) == 6  # one per photo, all references kept
    batch = next(iter(data.train_dataloader()))
    assert batch.grids.shape == (4, 49, 3)
    assert batch.captions[:, 0].eq(2).all() and len(batch.references[0]) == 2
    assert data.cache.extracted == 12  # train and validation photos, once
    again = module(shapes)
    again.setup("fit")
    assert again.cache.extracted == 0  # later runs only read the cache
    assert data.decode(data.encode_caption("A red square on white .")) == "a red square on white"


def test_flickr8k_is_registered():
    spec = get_spec("flickr8k")
    assert spec.splits["test"] == ("Flickr8k.token.txt", "Flickr_8k.testImages.txt")


def _bad(files, kind: str):
    captions, lists = files["captions"], files["lists"]
    lines = captions.read_text().splitlines()
    if kind == "no_tab":
        lines[2] = lines[2].replace("\t", " ")
        captions.write_text("\n".join(lines) + "\n")
        return f"{captions}:3:", "no tab"
    if kind == "unknown_image":
        lines.insert(4, "ghost.jpg#0\ta ghost")
        captions.write_text("\n".join(lines) + "\n")
        return f"{captions}:5:", "unknown image id 'ghost.jpg'"
    if kind == "bad_id":
        lines[0] = "no-number\ta caption"
        captions.write_text("\n".join(lines) + "\n")
        return f"{captions}:1:", "IMAGE_ID#N"
    if kind == "split_without_file":
        names = lists["test"].read_text().splitlines()
        (files["images"] / names[1]).unlink()
        captions.write_text(
            "\n".join(line for line in lines if not line.startswith(names[1])) + "\n"
        )
        return f"{lists['test']}:2:", "has no file"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["no_tab", "unknown_image", "bad_id", "split_without_file"])
def test_bad_data_is_one_line_naming_file_and_line(shapes, tmp_path, capsys, kind):
    where, what = _bad(shapes, kind)
    with pytest.raises(DataFormatError, match=what):
        data = module(shapes)
        assert data.vocabulary
        data.setup("test")
    run = tmp_path / "run"
    args = (
        fit_args(shapes, run, epochs=1)
        if kind != "split_without_file"
        else ["test", *fit_args(shapes, run, epochs=1)[1:]]
    )
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and where in err[0] and what in err[0], err
    assert not (run / "checkpoints").exists()


def test_missing_mirror_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("NLPTAG_DATA_DIR", str(tmp_path))
    with pytest.raises(NlptagError, match="flickr8k.*not found.*NLPTAG_DATA_DIR"):
        assert CaptionDataModule(dataset="flickr8k", encoder="colour-grid").vocabulary
