"""ParallelTextDataModule: reading aligned files, subword tokenizers, batches, errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch
from pytorch_lightning import Trainer
from tokenizers import Tokenizer

from data_modules import ParallelTextDataModule
from nlptag.errors import NlptagError
from nlptag.text.encoding import collate_translation
from nlptag.text.readers import read_lines
from nlptag.text.specials import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from tests.conftest import SHARED_DATA

PAIRS = [
    ("Ein Mann fährt Fahrrad.", "A man rides a bike."),
    ("Eine Frau läuft über die Straße.", "A woman walks across the street."),
    ("Zwei Hunde spielen im Schnee!", "Two dogs play in the snow!"),
    ("Ein Kind isst einen Apfel.", "A child eats an apple."),
    ("Der Mann und die Frau lachen.", "The man and the woman laugh."),
    ("Ein großer Hund läuft schnell.", "A big dog runs fast."),
    ("Die Kinder spielen Fußball, oder?", "The children play soccer, or?"),
    ("Ein Mann spielt Gitarre.", "A man plays guitar."),
]
HELD_OUT = [
    ("Eine Frau fährt Fahrrad.", "A woman rides a bike."),
    ("Zwei Kinder lachen.", "Two children laugh."),
    ("Ein Hund isst.", "A dog eats."),
]


def write_pair(prefix: Path, pairs, compress: bool = False) -> None:
    for side, language in enumerate(("de", "en")):
        text = "".join(pair[side] + "\n" for pair in pairs)
        if compress:
            with gzip.open(f"{prefix}.{language}.gz", "wt", encoding="utf-8") as handle:
                handle.write(text)
        else:
            Path(f"{prefix}.{language}").write_text(text, encoding="utf-8")


@pytest.fixture
def corpus(tmp_path) -> Path:
    """Folder with train.{de,en}.gz, dev.{de,en} and test.{de,en}."""
    write_pair(tmp_path / "train", PAIRS, compress=True)
    write_pair(tmp_path / "dev", HELD_OUT)
    write_pair(tmp_path / "test", HELD_OUT[::-1])
    return tmp_path


def module(folder: Path, **options) -> ParallelTextDataModule:
    defaults = {
        "train_file": str(folder / "train"),
        "validation_file": str(folder / "dev"),
        "test_file": str(folder / "test"),
        "vocab_size": 120,
        "min_frequency": 1,
        "batch_size": 3,
        "eval_batch_size": 2,
    }
    return ParallelTextDataModule(**{**defaults, **options})


@pytest.mark.parametrize("subword_model", ["bpe", "unigram"])
@pytest.mark.parametrize("joint", [True, False])
def test_special_ids_are_fixed_on_both_sides(corpus, subword_model, joint):
    data = module(corpus, subword_model=subword_model, joint_vocabulary=joint)
    data.build_tokenizers()
    for tokenizer in (data.source_tokenizer, data.target_tokenizer):
        ids = [tokenizer.token_to_id(t) for t in ("<pad>", "<unk>", "<s>", "</s>")]
        assert ids == [PAD_ID, UNK_ID, BOS_ID, EOS_ID] == [0, 1, 2, 3]


@pytest.mark.parametrize("subword_model", ["bpe", "unigram"])
def test_round_trip_gives_back_the_normalised_text(corpus, subword_model):
    data = module(corpus, subword_model=subword_model)
    for _, target in PAIRS + HELD_OUT:
        assert data.decode_target(data.encode_target(target)) == target
    # punctuation and umlauts, also as source text through the joint tokenizer
    text = "Die Kinder spielen Fußball, oder?"
    assert data.decode_target(data.encode_source(text)) == text
    # whitespace runs (tabs, no-break spaces) become one space; ends are stripped
    messy = "  A  man\trides\u00a0a bike. "
    assert data.normalize(messy) == "A man rides a bike."
    assert data.decode_target(data.encode_target(messy)) == "A man rides a bike."


def test_unseen_characters_are_unk_and_dropped_when_decoding(corpus):
    data = module(corpus)
    ids = data.encode_target("A cat§")
    assert UNK_ID in ids
    assert "§" not in data.decode_target(ids)


def test_decode_stops_at_the_first_eos_and_skips_specials(corpus):
    data = module(corpus)
    dog = data.encode_target("A dog")
    man = data.encode_target("A man")
    assert data.decode_target(dog + man) == "A dog"
    assert data.decode_target(torch.tensor([PAD_ID, *dog[1:], PAD_ID])) == "A dog"
    assert data.decode_target([]) == ""


def test_bos_and_eos_placement(corpus):
    data = module(corpus)
    source = data.encode_source("Ein Hund isst.")
    target = data.encode_target("A dog eats.")
    assert source[-1] == EOS_ID and BOS_ID not in source
    assert target[0] == BOS_ID and target[-1] == EOS_ID
    assert EOS_ID not in target[:-1]
    pieces = data.source_pieces("Ein Hund isst.")
    assert len(pieces) == len(source) and pieces[-1] == "</s>"
    assert "".join(pieces[:-1]).replace("\u2581", " ").strip() == "Ein Hund isst."


def test_joint_and_separate_vocabularies(corpus):
    joint = module(corpus, vocab_size=70)
    assert joint.shared_vocabulary is True
    assert joint.source_tokenizer is joint.target_tokenizer
    assert joint.source_vocab_size == joint.target_vocab_size == 70
    separate = module(corpus, vocab_size=70, joint_vocabulary=False)
    assert separate.shared_vocabulary is False
    assert separate.source_tokenizer is not separate.target_tokenizer
    assert separate.source_vocab_size == separate.target_vocab_size == 70
    # each side's tokenizer knows only its side's characters
    assert separate.source_tokenizer.token_to_id("ü") is not None
    assert separate.target_tokenizer.token_to_id("ü") is None
    assert joint.target_tokenizer.token_to_id("ü") is not None


def test_vocab_size_is_a_target_not_a_promise(corpus):
    # tiny data runs out of merges; BPE keeps every character seen (44 with the specials)
    assert 44 < module(corpus, vocab_size=100_000).source_vocab_size < 1000
    assert module(corpus, vocab_size=10).source_vocab_size == 44


def test_training_is_deterministic(corpus):
    first = module(corpus).state_dict()
    second = module(corpus).state_dict()
    assert first == second


def test_batches_are_padded_and_cover_each_pair_once(corpus):
    data = module(corpus)
    data.setup("fit")
    batches = list(data.val_dataloader())
    assert [len(batch.index) for batch in batches] == [2, 1]
    assert sorted(i for batch in batches for i in batch.index.tolist()) == [0, 1, 2]
    for batch in batches:
        size = len(batch.index)
        assert batch.source.shape == (size, int(batch.source_lengths.max()))
        assert batch.target.shape == (size, int(batch.target_lengths.max()))
        assert batch.source.dtype == batch.target.dtype == torch.long
        for row in range(size):
            i, s, t = batch.index[row], batch.source_lengths[row], batch.target_lengths[row]
            assert batch.source[row, :s].tolist() == data.encode_source(HELD_OUT[i][0])
            assert batch.target[row, :t].tolist() == data.encode_target(HELD_OUT[i][1])
            assert batch.source[row, s:].eq(PAD_ID).all() and batch.target[row, t:].eq(0).all()
    train = list(data.train_dataloader())
    assert sum(len(batch.index) for batch in train) == len(PAIRS)
    assert sorted(i for batch in train for i in batch.index.tolist()) == list(range(len(PAIRS)))


def test_collate_pads_with_zeros():
    batch = collate_translation(
        [
            {"source": [5, 6, 3], "target": [2, 7, 3], "index": 4},
            {"source": [8, 3], "target": [2, 9, 10, 11, 3], "index": 1},
        ]
    )
    assert batch.source.tolist() == [[5, 6, 3], [8, 3, 0]]
    assert batch.source_lengths.tolist() == [3, 2]
    assert batch.target.tolist() == [[2, 7, 3, 0, 0], [2, 9, 10, 11, 3]]
    assert batch.target_lengths.tolist() == [3, 5]
    assert batch.index.tolist() == [4, 1]


def test_predict_batches_have_an_empty_target(corpus, tmp_path):
    predict = tmp_path / "input.txt"
    predict.write_text("Ein Hund.\nZwei Frauen lachen laut.\n", encoding="utf-8")
    data = module(corpus, predict_file=str(predict))
    (batch,) = list(data.predict_dataloader())
    assert batch.target.shape == (2, 0) and batch.target.dtype == torch.long
    assert batch.target_lengths.tolist() == [0, 0]
    assert sorted(batch.index.tolist()) == [0, 1]
    assert data.sources("predict") == ["Ein Hund.", "Zwei Frauen lachen laut."]
    # without a predict file, the test sources are translated
    assert module(corpus).sources("predict") == [de for de, _ in HELD_OUT[::-1]]


def test_long_training_pairs_are_dropped_and_counted(corpus):
    lengths = [len(module(corpus).encode_source(de)) - 1 for de, _ in PAIRS]
    limit = sorted(lengths)[len(lengths) // 2]
    data = module(corpus, max_source_tokens=limit, max_target_tokens=100)
    expected = sum(length > limit for length in lengths)
    assert 0 < expected < len(PAIRS)
    kept = data.encoded_split("train")
    assert data.dropped == {"empty": 0, "too_long": expected}
    assert len(kept) == len(PAIRS) - expected
    assert all(len(example["source"]) - 1 <= limit for example in kept)
    # never at evaluation
    short = module(corpus, max_source_tokens=1, max_target_tokens=1)
    with pytest.raises(NlptagError, match="every training pair is longer"):
        short.encoded_split("train")
    assert len(short.encoded_split("validation")) == len(HELD_OUT)


def test_empty_training_lines_are_skipped_and_counted(tmp_path, corpus):
    write_pair(tmp_path / "gaps", [PAIRS[0], ("", "Nothing."), ("Nichts.", "  "), PAIRS[1]])
    data = module(corpus, train_file=str(tmp_path / "gaps"))
    examples = data.encoded_split("train")
    assert [example["index"] for example in examples] == [0, 3]
    assert data.dropped == {"empty": 2, "too_long": 0}


def test_line_count_mismatch_names_both_files(tmp_path, corpus):
    write_pair(tmp_path / "bad", PAIRS)
    Path(tmp_path / "bad.en").write_text("One.\nTwo.\n", encoding="utf-8")
    data = module(corpus, validation_file=str(tmp_path / "bad"))
    with pytest.raises(NlptagError) as error:
        data.setup("validate")
    message = str(error.value)
    assert f"{tmp_path / 'bad.de'} has 8 lines" in message
    assert f"{tmp_path / 'bad.en'} has 2" in message


def test_gz_and_plain_files_read_alike(tmp_path, corpus):
    write_pair(tmp_path / "plain", PAIRS)
    gz = module(corpus)
    plain = module(corpus, train_file=str(tmp_path / "plain"))
    assert gz.load_split("train").source_path.name == "train.de.gz"
    assert plain.load_split("train").source_path.name == "plain.de"
    assert gz.sources("train") == plain.sources("train") == [de for de, _ in PAIRS]
    assert gz.state_dict() == plain.state_dict()


def test_lines_are_read_exactly(tmp_path):
    path = tmp_path / "raw.en"
    path.write_bytes("a  b \r\nc\u2028d\n\n e".encode())
    assert read_lines(path) == ["a  b ", "c\u2028d", "", " e"]


def test_references_are_the_raw_target_lines(tmp_path, corpus):
    write_pair(tmp_path / "messy", [("Ein  Hund .", " A  dog ."), ("Ja", "Yes")])
    data = module(corpus, test_file=str(tmp_path / "messy"))
    assert data.references("test") == [" A  dog .", "Yes"]
    assert data.sources("test") == ["Ein  Hund .", "Ja"]
    assert data.references("validation") == [en for _, en in HELD_OUT]


def test_state_dict_is_plain_and_restores_without_training(corpus, tmp_path):
    trained = module(corpus, joint_vocabulary=False)
    state = trained.state_dict()
    assert set(state) == {"source_tokenizer", "target_tokenizer"}
    assert all(isinstance(value, str) for value in state.values())
    assert json.loads(json.dumps(state)) == state
    path = tmp_path / "state.pt"
    torch.save(state, path)
    restored_state = torch.load(path, weights_only=True)
    # no training data: any attempt to train would fail
    fresh = ParallelTextDataModule(
        train_file=str(tmp_path / "missing"), joint_vocabulary=False, vocab_size=120
    )
    fresh.load_state_dict(restored_state)
    text = "Eine Frau spielt Gitarre."
    assert fresh.encode_source(text) == trained.encode_source(text)
    assert fresh.encode_target("A dog plays.") == trained.encode_target("A dog plays.")
    assert fresh.source_vocab_size == trained.source_vocab_size
    joint = module(corpus)
    again = ParallelTextDataModule(train_file=str(tmp_path / "missing"))
    again.load_state_dict(joint.state_dict())
    assert again.source_tokenizer is again.target_tokenizer
    with pytest.raises(NlptagError, match="joint_vocabulary"):
        again.load_state_dict(state)


def test_fit_setup_writes_tokenizer_files(corpus, tmp_path):
    data = module(corpus)
    data.trainer = Trainer(
        default_root_dir=tmp_path / "run", logger=False, enable_progress_bar=False
    )
    data.setup("fit")
    folder = tmp_path / "run" / "tokenizers"
    for name in ("source_tokenizer.json", "target_tokenizer.json"):
        loaded = Tokenizer.from_file(str(folder / name))
        assert loaded.encode("Ein Hund.").ids == data.source_tokenizer.encode("Ein Hund.").ids


def test_missing_files_are_named(corpus, tmp_path):
    data = module(corpus, validation_file=str(tmp_path / "nowhere"))
    with pytest.raises(NlptagError, match="nowhere.de"):
        data.setup("validate")
    data = module(corpus, predict_file=str(tmp_path / "absent.txt"))
    with pytest.raises(NlptagError, match="absent.txt"):
        data.predict_dataloader()


def test_registry_files_follow_the_languages(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPTAG_DATA_DIR", str(tmp_path))
    folder = tmp_path / "multi30k"
    folder.mkdir()
    write_pair(folder / "train", PAIRS, compress=True)
    reverse = ParallelTextDataModule(source_language="en", target_language="de", vocab_size=60)
    assert reverse.sources("train")[0] == PAIRS[0][1]
    assert reverse.references("train")[0] == PAIRS[0][0]
    missing = ParallelTextDataModule()
    with pytest.raises(NlptagError, match="val.de.gz"):
        missing.load_split("validation")


def test_unknown_language_names_the_config_key_and_files():
    data = ParallelTextDataModule(source_language="fr")
    with pytest.raises(NlptagError) as error:
        data.load_split("train")
    message = str(error.value)
    assert "data.init_args.source_language" in message
    assert "'fr'" in message and "train.de.gz" in message and "train.en.gz" in message
    with pytest.raises(NlptagError, match="target_language"):
        ParallelTextDataModule(target_language="de").load_split("train")


@pytest.mark.skipif(not (SHARED_DATA / "multi30k").is_dir(), reason="no Multi30k mirror")
def test_multi30k(monkeypatch):
    monkeypatch.setenv("NLPTAG_DATA_DIR", str(SHARED_DATA))
    data = ParallelTextDataModule(vocab_size=8000)
    data.setup("fit")
    data.setup("test")
    assert len(data.encoded_split("train")) == 29_000 - sum(data.dropped.values())
    assert len(data.encoded_split("validation")) == 1014
    assert len(data.encoded_split("test")) == 1000
    assert data.source_vocab_size == data.target_vocab_size == 8000
    with gzip.open(SHARED_DATA / "multi30k" / "test_2016_flickr.en.gz", "rt") as handle:
        first = handle.readline().rstrip("\n")
    assert data.references("test")[0] == first
    assert len(data.references("test")) == 1000
