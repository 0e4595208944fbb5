import pytest
import torch

from data_modules.text import CharLMDataModule, LMBatch, StreamChunks, rank_streams, stream_layout
from nlptag.errors import NlptagError


def test_stream_layout_cuts_contiguous_streams_that_share_one_character():
    streams = stream_layout(torch.arange(11), 2)  # L = (11 - 1) // 2 = 5
    assert streams.tolist() == [[0, 1, 2, 3, 4, 5], [5, 6, 7, 8, 9, 10]]
    # (13 - 1) // 3 = 4 steps per stream; character 12 is the last target, nothing is dropped
    assert stream_layout(torch.arange(13), 3).tolist() == [
        [0, 1, 2, 3, 4],
        [4, 5, 6, 7, 8],
        [8, 9, 10, 11, 12],
    ]
    # (12 - 1) // 3 = 3: the last two characters are not used
    assert stream_layout(torch.arange(12), 3)[-1].tolist() == [6, 7, 8, 9]


def test_stream_layout_rejects_a_text_too_short_for_the_streams():
    with pytest.raises(NlptagError, match="too short"):
        stream_layout(torch.arange(3), 4)


def test_chunks_continue_each_other_and_targets_are_the_next_characters():
    chunks = StreamChunks(stream_layout(torch.arange(11), 2), bptt_steps=2)
    assert len(chunks) == 3  # 5 steps per stream: chunks of 2, 2 and 1
    first, second, last = chunks[0], chunks[1], chunks[2]
    assert isinstance(first, LMBatch)
    assert first.inputs.tolist() == [[0, 1], [5, 6]]
    assert first.targets.tolist() == [[1, 2], [6, 7]]
    assert second.inputs.tolist() == [[2, 3], [7, 8]]
    assert last.inputs.tolist() == [[4], [9]]
    assert last.targets.tolist() == [[5], [10]]
    with pytest.raises(IndexError):
        chunks[3]


def test_every_rank_reads_its_own_streams():
    ids = torch.arange(17)  # 4 streams of (17 - 1) // 4 = 4 steps
    rank0 = rank_streams(ids, batch_size=2, world_size=2, rank=0)
    rank1 = rank_streams(ids, batch_size=2, world_size=2, rank=1)
    assert rank0.tolist() == [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8]]
    assert rank1.tolist() == [[8, 9, 10, 11, 12], [12, 13, 14, 15, 16]]
    assert rank_streams(ids, batch_size=4).tolist() == torch.cat([rank0, rank1]).tolist()
    with pytest.raises(ValueError):
        rank_streams(ids, batch_size=2, world_size=2, rank=2)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("abcabcabcd" * 9 + "xyzxyzxyz!")  # 100 characters; the last 10 validate
    return path


def test_split_by_position_and_vocabulary_from_train_with_unknown_at_0(text_file):
    data = CharLMDataModule(train_file=str(text_file), batch_size=2, bptt_steps=4)
    assert data.text("train") == "abcabcabcd" * 9
    assert data.text("validation") == "xyzxyzxyz!"
    assert data.text("test") == data.text("validation")  # no test file: test on validation
    assert data.vocabulary == ["<unk>", "a", "b", "c", "d"]
    assert data.num_chars == 5
    assert data.encode("abz!").tolist() == [1, 2, 0, 0]  # unseen characters map to <unk>


def test_loaders_yield_ordered_chunks(text_file):
    data = CharLMDataModule(train_file=str(text_file), batch_size=2, bptt_steps=4)
    data.setup("fit")
    batches = list(data.train_dataloader())
    assert len(batches) == 11  # 2 streams of (90 - 1) // 2 = 44 steps, in chunks of 4
    assert batches[0].inputs.shape == (2, 4)
    assert batches[0].inputs[0].tolist() == [1, 2, 3, 1]  # "abca"
    joined = torch.cat([b.inputs for b in batches], dim=1)
    assert joined[0].tolist() == data.encode(data.text("train")[:44]).tolist()
    val = list(data.val_dataloader())
    assert [b.inputs.shape for b in val] == [(2, 4)]  # (10 - 1) // 2 = 4 steps per stream
    assert val[0].inputs.eq(0).all()  # x, y and z are unknown to the training vocabulary


def test_explicit_files_and_vocabulary_state_round_trip(tmp_path, text_file):
    validation = tmp_path / "valid.txt"
    validation.write_text("abcd" * 3)
    test = tmp_path / "test.txt"
    test.write_text("dcba" * 3)
    data = CharLMDataModule(
        train_file=str(text_file), validation_file=str(validation), test_file=str(test)
    )
    assert data.text("train") == text_file.read_text()  # no split when validation is given
    assert data.text("test") == "dcba" * 3
    restored = CharLMDataModule(train_file=str(validation))
    restored.load_state_dict(data.state_dict())
    assert restored.vocabulary == data.vocabulary
    assert restored.encode("xa").tolist() == data.encode("xa").tolist()


def test_user_errors_are_reported(tmp_path):
    with pytest.raises(NlptagError, match="data.dataset"):
        CharLMDataModule()
    with pytest.raises(NlptagError, match="unknown dataset"):
        CharLMDataModule(dataset="no_such_corpus")
    with pytest.raises(NlptagError, match="does not exist"):
        CharLMDataModule(train_file=str(tmp_path / "missing.txt")).text("train")
