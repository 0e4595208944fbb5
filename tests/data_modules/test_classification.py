import json

import pytest
import torch

from data_modules.classification import ClassificationDataModule
from nlptag.errors import DataFormatError, NlptagError
from nlptag.text.encoding import collate_classification
from nlptag.text.tokenize import tokenize

TRAIN = [
    ("a fine film .", "1"),
    ("a dull film", "0"),
    ("fine , fine acting", "1"),
]
DEV = [("a fine , dull film", "0"), ("fine", "1")]


def write_tsv(path, rows, header=("sentence", "label")):
    lines = ["\t".join(header)] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPTAG_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def files(tmp_path):
    return {
        "train_file": str(write_tsv(tmp_path / "train.tsv", TRAIN)),
        "validation_file": str(write_tsv(tmp_path / "dev.tsv", DEV)),
        "test_file": str(
            write_tsv(
                tmp_path / "test.tsv", [("0", "dull"), ("1", "a fine film")], ("index", "sentence")
            )
        ),
    }


def test_vocabularies_come_from_train_only(files):
    data = ClassificationDataModule(**files)
    data.build_vocabularies()
    # specials, then by frequency (ties by first appearance); dev words are not added
    assert data.words.entries == ["<pad>", "<unk>", "fine", "a", "film", ".", "dull", ",", "acting"]
    assert data.num_words == 9
    assert data.label_names == ["0", "1"]
    assert data.num_chars == 2 + len(set("afinefilm.dullacting,"))


def test_state_dict_round_trip(files):
    data = ClassificationDataModule(**files)
    state = data.state_dict()
    assert all(isinstance(entries, list) for entries in state.values())
    restored = ClassificationDataModule(**files)
    restored.load_state_dict(state)
    assert restored.label_names == data.label_names
    assert restored.encode(["fine", "unseen"]) == data.encode(["fine", "unseen"])


def test_encoded_validation_and_collate(files):
    data = ClassificationDataModule(**files, batch_size=2)
    data.setup("fit")
    dev = data.encoded_split("validation")
    assert [example["label_id"] for example in dev] == [0, 1]
    assert dev[0]["word_ids"] == [3, 2, 7, 6, 4]  # a fine , dull film
    batch = collate_classification(dev[::-1])
    assert batch.words.tolist() == [[2, 0, 0, 0, 0], [3, 2, 7, 6, 4]]
    assert batch.lengths.tolist() == [1, 5]
    assert batch.mask.sum(dim=1).tolist() == [1, 5]
    assert batch.labels.tolist() == [1, 0]
    assert batch.index.tolist() == [1, 0]
    assert batch.chars.shape == (2, 5, 4)
    assert batch.chars[0, 1:].eq(0).all()
    assert batch.chars[0, 0].ne(0).all()  # "fine" has 4 characters


def test_collate_pads_characters():
    examples = [
        {"word_ids": [5], "char_ids": [[7]], "label_id": 1, "index": 0},
        {"word_ids": [2, 3], "char_ids": [[4, 5, 6], [8]], "label_id": 0, "index": 1},
    ]
    batch = collate_classification(examples)
    assert batch.chars.tolist() == [[[7, 0, 0], [0, 0, 0]], [[4, 5, 6], [8, 0, 0]]]
    assert batch.words.dtype == batch.chars.dtype == torch.long


def test_loader_batches_every_example_once(files):
    data = ClassificationDataModule(**files, batch_size=2)
    data.setup("fit")
    indices = sorted(i for batch in data.val_dataloader() for i in batch.index.tolist())
    assert indices == [0, 1]
    assert sum(len(batch.labels) for batch in data.train_dataloader()) == 3


def test_csv_and_jsonl_read_like_tsv(tmp_path, files):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text(
        'text,stars\n"a fine film .",1\n"a dull film",0\n"fine , fine acting",1\n', encoding="utf-8"
    )
    jsonl_path = tmp_path / "train.jsonl"
    jsonl_path.write_text(
        "".join(json.dumps({"text": text, "stars": int(label)}) + "\n" for text, label in TRAIN),
        encoding="utf-8",
    )
    expected = ClassificationDataModule(train_file=files["train_file"]).load_split("train")
    for path in (csv_path, jsonl_path):
        data = ClassificationDataModule(
            train_file=str(path), text_column="text", label_column="stars"
        )
        loaded = data.load_split("train")
        assert loaded["tokens"] == expected["tokens"]
        assert loaded["label"] == expected["label"]
        assert data.label_names == ["0", "1"]


def test_format_argument_overrides_the_extension(tmp_path):
    path = write_tsv(tmp_path / "train.txt", TRAIN)
    with pytest.raises(NlptagError, match="set data.format"):
        ClassificationDataModule(train_file=str(path)).load_split("train")
    data = ClassificationDataModule(train_file=str(path), format="tsv")
    assert len(data.load_split("train")) == 3


def test_tokenizers_lowercase_and_max_length(tmp_path):
    assert tokenize("Isn't it GREAT?!", "regex", r"\w+|[^\w\s]", True) == [
        "isn", "'", "t", "it", "great", "?", "!",
    ]  # fmt: skip
    assert tokenize(" Isn't  it ", "whitespace", "", False) == ["Isn't", "it"]
    path = write_tsv(tmp_path / "train.tsv", [("Great FILM , great!", "pos")])
    data = ClassificationDataModule(
        train_file=str(path), tokenizer="regex", lowercase=True, max_length=3
    )
    assert data.load_split("train")["tokens"] == [["great", "film", ",", "great", "!"]]
    data.build_vocabularies()
    assert data.words.entries == ["<pad>", "<unk>", "great", "film", ",", "!"]
    assert data.encode(["great", "film", ",", "great", "!"])["word_ids"] == [2, 3, 4]


def test_parsed_splits_are_cached_by_content(tmp_path, files):
    first = ClassificationDataModule(**files).load_split("train")
    cached = list((tmp_path / "cache" / "parsed").iterdir())
    assert len(cached) == 1
    again = ClassificationDataModule(**files).load_split("train")
    assert again["tokens"] == first["tokens"]
    lowercased = ClassificationDataModule(**files, lowercase=True)
    lowercased.load_split("train")  # other reading settings: another cache entry
    assert len(list((tmp_path / "cache" / "parsed").iterdir())) == 2


def test_unlabelled_test_file_is_for_predict_only(files):
    data = ClassificationDataModule(**files)
    with pytest.raises(NlptagError, match="no label column 'label'.*nlptag predict"):
        data.setup("test")
    batches = list(data.predict_dataloader())
    assert sorted(i for batch in batches for i in batch.index.tolist()) == [0, 1]
    assert data.predict_examples()["tokens"] == [["dull"], ["a", "fine", "film"]]


def test_unseen_labels_get_ids_the_model_cannot_predict(tmp_path, files, capsys):
    dev = write_tsv(tmp_path / "dev.tsv", [("fine", "1"), ("so so", "neutral"), ("meh", "mixed")])
    data = ClassificationDataModule(**{**files, "validation_file": str(dev)})
    data.setup("fit")
    labels = data.label_names
    assert data.evaluation_label_names == labels + ["neutral", "mixed"]
    ids = [example["label_id"] for example in data.encoded_split("validation")]
    assert ids == [labels.index("1"), len(labels), len(labels) + 1]
    err = capsys.readouterr().err
    assert "dev.tsv: 2 of 3 texts carry labels" in err and "neutral (1), mixed (1)" in err


def test_missing_text_column_names_file_and_line(tmp_path):
    path = write_tsv(tmp_path / "train.tsv", TRAIN, header=("text", "label"))
    with pytest.raises(DataFormatError, match=r"train\.tsv:1: no column 'sentence'"):
        ClassificationDataModule(train_file=str(path)).load_split("train")


def test_train_file_without_labels_is_an_error(tmp_path):
    path = write_tsv(tmp_path / "train.tsv", [(text,) for text, _ in TRAIN], header=("sentence",))
    with pytest.raises(DataFormatError, match=r"train\.tsv:1: no label column 'label'"):
        ClassificationDataModule(train_file=str(path)).build_vocabularies()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"train\.tsv:1: the file is empty"),
        ("sentence\tlabel\n", r"train\.tsv:1: no examples found"),
        ("sentence\tlabel\na film\t1\nbad\n", r"train\.tsv:3: expected 2 fields, found 1"),
        ("sentence\tlabel\na film\t1\n \t0\n", r"train\.tsv:3: the text \('sentence'\) is empty"),
        ("sentence\tlabel\na film\t\n", r"train\.tsv:2: the label \('label'\) is empty"),
    ],
)
def test_bad_tsv_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "train.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        ClassificationDataModule(train_file=str(path)).load_split("train")


def test_bad_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"sentence": "good", "label": 1}\n{"sentence": "bad", "label": 0\n')
    with pytest.raises(DataFormatError, match=r"train\.jsonl:2: invalid JSON"):
        ClassificationDataModule(train_file=str(path)).load_split("train")
    path.write_text('{"sentence": "good", "label": 1}\n{"text": "bad", "label": 0}\n')
    with pytest.raises(DataFormatError, match=r"train\.jsonl:2: no field 'sentence'"):
        ClassificationDataModule(train_file=str(path)).load_split("train")


def test_needs_a_dataset_or_files():
    with pytest.raises(NlptagError, match="data.dataset"):
        ClassificationDataModule()
    with pytest.raises(NlptagError, match="unknown dataset name"):
        ClassificationDataModule(dataset="sst3")
