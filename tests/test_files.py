"""nlptag.files: the crash-safe writer every file of nlptag goes through."""

import errno
import os

import pytest

from nlptag.errors import NlptagError
from nlptag.files import (
    FILE_MODE,
    atomic_open,
    remove_leftovers,
    write_text_atomically,
    write_with,
)


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomically(target, "first\n")
    write_text_atomically(target, "second\n")
    assert target.read_text() == "second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    assert target.stat().st_mode & 0o777 == FILE_MODE


def test_an_error_inside_the_block_keeps_the_previous_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("previous\n")
    with pytest.raises(RuntimeError), atomic_open(target) as out:
        out.write("half of the new")
        raise RuntimeError("killed")
    assert target.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_full_disk_is_one_clear_error_and_the_previous_file_survives(tmp_path):
    target = tmp_path / "model.ckpt"
    target.write_bytes(b"previous checkpoint")

    def fill_the_disk(path):
        path.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(NlptagError) as error:
        write_with(target, fill_the_disk, what="checkpoint")
    message = str(error.value)
    assert str(target) in message and "no space left on the device" in message
    assert "previous file" in message
    assert target.read_bytes() == b"previous checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]


def test_a_missing_directory_names_it(tmp_path):
    with pytest.raises(NlptagError, match="the directory .*missing does not exist"):
        write_text_atomically(tmp_path / "missing" / "out.txt", "x")


def test_leftovers_of_killed_writes_are_removed_and_nothing_else(tmp_path):
    (tmp_path / ".last.ckpt.k2j3.tmp").write_bytes(b"partial")
    (tmp_path / "last.ckpt").write_bytes(b"whole")
    (tmp_path / "notes.tmp").write_text("a user's file, not a hidden temporary")
    removed = remove_leftovers(tmp_path)
    assert [p.name for p in removed] == [".last.ckpt.k2j3.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "notes.tmp"]
