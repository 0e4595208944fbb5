import pytest

from data_modules.conll import NERDataModule
from nlptag.errors import DataFormatError
from nlptag.text.readers import read_conll_columns

CONLL = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

BRUSSELS NNP I-NP I-LOC
Paris NNP I-NP B-LOC
"""


def write(tmp_path, text, name="eng.train"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_docstart_lines_are_boundaries_not_sentences(tmp_path):
    sentences = list(read_conll_columns(write(tmp_path, CONLL), token_column=0, label_column=3))
    assert [s["tokens"] for s in sentences] == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn"],
        ["BRUSSELS", "Paris"],
    ]
    assert sentences[2]["tags"] == ["I-LOC", "B-LOC"]


def test_columns_and_delimiter_are_selectable(tmp_path):
    tabbed = write(tmp_path, "a\tX\tB-PER\nb\tY\tO\n")
    (sentence,) = read_conll_columns(tabbed, token_column=0, label_column=1, delimiter="\t")
    assert sentence == {"tokens": ["a", "b"], "tags": ["X", "Y"]}
    (sentence,) = read_conll_columns(tabbed, delimiter="\t")  # label column -1: the last
    assert sentence["tags"] == ["B-PER", "O"]


def test_inconsistent_columns_name_file_and_line(tmp_path):
    path = write(tmp_path, CONLL.replace("call NN I-NP O", "call NN O"))
    with pytest.raises(DataFormatError, match=r"eng\.train:6: 3 columns, expected 4"):
        list(read_conll_columns(path, 0, 3))


def test_ner_module_trains_in_iobes_and_keeps_the_data_scheme(tmp_path):
    train = write(tmp_path, CONLL)
    data = NERDataModule(train_file=str(train), validation_file=str(train), label_column=3)
    assert data.data_scheme == "iob1" and data.tag_scheme == "iobes"
    assert data.load_split("train")["tags"][2] == ["S-LOC", "S-LOC"]
    assert data.load_split("train")["tags"][1] == ["B-PER", "E-PER"]
    assert set(data.tag_names) == {"S-ORG", "O", "S-MISC", "B-PER", "E-PER", "S-LOC"}


def test_tag_outside_the_scheme_names_the_file(tmp_path):
    train = write(tmp_path, CONLL.replace("I-ORG", "X-ORG"))
    data = NERDataModule(train_file=str(train), label_column=3)
    with pytest.raises(DataFormatError, match=r"eng\.train: sentence 1: tag 'X-ORG'"):
        data.load_split("train")
