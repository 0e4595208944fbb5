import hashlib

import pytest

from data_modules import registry
from data_modules.registry import REGISTRY, DatasetSpec, RemoteFile, resolve_file
from nlptag.errors import NlptagError


def test_every_dataset_names_its_splits_files():
    assert {"ud_en_ewt", "conll2003", "sst2", "multi30k", "tinyshakespeare"} <= set(REGISTRY)
    for spec in REGISTRY.values():
        names = {f.name for f in spec.files}
        for files in spec.splits.values():
            assert set(files) <= names
        for remote in spec.files:
            assert spec.embedded or (remote.url.startswith("https://") and len(remote.sha256) == 64)


def test_mirror_is_used_first(tmp_path, monkeypatch):
    (tmp_path / "ud_en_ewt").mkdir()
    (tmp_path / "ud_en_ewt" / "en_ewt-ud-dev.conllu").write_text("x")
    monkeypatch.setenv("NLPTAG_DATA_DIR", str(tmp_path))
    assert resolve_file("ud_en_ewt", "en_ewt-ud-dev.conllu") == (
        tmp_path / "ud_en_ewt" / "en_ewt-ud-dev.conllu"
    )


def test_missing_and_offline_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPTAG_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("NLPTAG_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(NlptagError) as error:
        resolve_file("conll2003", "eng.train")
    message = str(error.value)
    assert str(tmp_path / "mirror" / "conll2003" / "eng.train") in message
    assert str(tmp_path / "cache" / "conll2003" / "eng.train") in message
    assert "NLPTAG_OFFLINE" in message


def test_unknown_dataset_lists_known_names():
    with pytest.raises(NlptagError, match="unknown dataset name 'ud_ewt'.*ud_en_ewt"):
        resolve_file("ud_ewt", "x")


def _fake_spec(tmp_path, content: bytes, sha256: str) -> DatasetSpec:
    source = tmp_path / "upstream.txt"
    source.write_bytes(content)
    remote = RemoteFile("input.txt", source.as_uri(), sha256)
    return DatasetSpec("fake", "text", (remote,), {"all": ("input.txt",)})


def test_download_checks_the_checksum_and_fills_the_cache(tmp_path, monkeypatch):
    content = b"to be or not to be\n"
    spec = _fake_spec(tmp_path, content, hashlib.sha256(content).hexdigest())
    monkeypatch.setitem(registry.REGISTRY, "fake", spec)
    monkeypatch.delenv("NLPTAG_OFFLINE")
    monkeypatch.delenv("NLPTAG_DATA_DIR", raising=False)
    monkeypatch.setenv("NLPTAG_CACHE_DIR", str(tmp_path / "cache"))
    path = resolve_file("fake", "input.txt")
    assert path == tmp_path / "cache" / "fake" / "input.txt"
    assert path.read_bytes() == content


def test_download_with_a_wrong_checksum_is_not_kept(tmp_path, monkeypatch):
    spec = _fake_spec(tmp_path, b"tampered\n", "0" * 64)
    monkeypatch.setitem(registry.REGISTRY, "fake", spec)
    monkeypatch.delenv("NLPTAG_OFFLINE")
    monkeypatch.setenv("NLPTAG_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(NlptagError, match="SHA-256"):
        resolve_file("fake", "input.txt")
    assert list((tmp_path / "cache" / "fake").iterdir()) == []
