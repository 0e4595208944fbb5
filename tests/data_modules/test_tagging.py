import json

import pytest

from data_modules.tagging import TaggingDataModule
from nlptag.errors import DataFormatError, NlptagError
from tests.conftest import conllu


def module(paths, **kwargs):
    return TaggingDataModule(
        train_file=str(paths["train"]),
        validation_file=str(paths["validation"]),
        test_file=str(paths["test"]),
        min_word_freq=1,
        **kwargs,
    )


def test_vocabularies_come_from_train_only(tiny_conllu):
    data = module(tiny_conllu)
    assert data.tag_names == ["DET", "NOUN", "VERB", "PUNCT"]
    assert data.words.entries[:2] == ["<pad>", "<unk>"]
    assert set(data.words.entries[2:]) == {"the", "a", "cat", "dog", "sleeps", "runs", "."}
    assert data.num_words == 9
    assert data.num_chars == 2 + len(set("thecatsleepsadogruns."))


def test_encoding_and_dataloader(tiny_conllu):
    data = module(tiny_conllu, batch_size=2)
    data.setup("fit")
    batches = list(data.train_dataloader())
    assert sum(batch.mask.sum().item() for batch in batches) == 14
    (batch,) = list(data.val_dataloader())
    assert data.tags.lookup(batch.tags[0].tolist()) == ["DET", "NOUN", "VERB", "PUNCT"]
    assert data.words.lookup(batch.words[0].tolist()) == ["the", "cat", "runs", "."]


def test_state_dict_round_trip_holds_plain_lists(tiny_conllu):
    data = module(tiny_conllu)
    state = data.state_dict()
    json.dumps(state)  # plain types only
    restored = module(tiny_conllu)
    restored.load_state_dict(state)
    assert restored.tag_names == data.tag_names and restored.words.entries == data.words.entries


def test_parsed_split_is_cached_by_content_and_an_edited_file_is_reread(tiny_conllu):
    assert len(module(tiny_conllu).load_split("train")) == 4
    with open(tiny_conllu["train"], "a", encoding="utf-8") as handle:
        handle.write("\n" + conllu([[("one", "NUM")]]))
    assert len(module(tiny_conllu).load_split("train")) == 5


def test_unseen_tags_get_ids_the_model_cannot_predict(tiny_conllu, capsys):
    tiny_conllu["validation"].write_text(
        conllu([[("hi", "INTJ"), ("cat", "NOUN"), ("wow", "INTJ"), ("x", "SYM")]])
    )
    data = module(tiny_conllu)
    data.setup("fit")
    tags = data.tag_names
    assert data.unseen_tags == ["INTJ", "SYM"]
    assert data.evaluation_tag_names == tags + ["INTJ", "SYM"]
    (example,) = data.encoded_split("validation")
    assert example["tag_ids"] == [len(tags), tags.index("NOUN"), len(tags), len(tags) + 1]
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warning) == 1
    assert "validation.conllu: 3 of 4 tokens" in warning[0] and "INTJ (2), SYM (1)" in warning[0]


def test_empty_and_missing_files(tiny_conllu, tmp_path):
    tiny_conllu["train"].write_text("")
    with pytest.raises(DataFormatError, match=r"train\.conllu: the file is empty"):
        _ = module(tiny_conllu).num_words
    tiny_conllu["train"] = tmp_path / "nope.conllu"
    with pytest.raises(NlptagError, match=r"data.train_file: .*nope\.conllu does not exist"):
        _ = module(tiny_conllu).num_words


def test_hub_style_dataset_folder(tmp_path):
    folder = tmp_path / "hub"
    folder.mkdir()
    rows = [{"tokens": ["a", "cat"], "upos": ["DET", "NOUN"]}]
    for split in ("train", "validation"):
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    data = TaggingDataModule(hub_dataset=str(folder), min_word_freq=1)
    assert data.tag_names == ["DET", "NOUN"]
    assert data.load_split("validation")["tokens"] == [["a", "cat"]]


def test_embedded_demo_dataset_needs_no_download():
    data = TaggingDataModule(dataset="demo")
    assert len(data.load_split("train")) == 48
    assert len(data.load_split("validation")) == 10
    assert "PROPN" in data.tag_names
