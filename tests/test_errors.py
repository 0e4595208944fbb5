"""Bad input gives one clear paragraph naming the file and line (or key), a non-zero exit status
and no traceback. Each case runs the real ``nlptag`` command in a subprocess."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, conllu

GOOD = conllu([[("the", "DET"), ("cat", "NOUN")], [("a", "DET"), ("dog", "NOUN")]])


def nlptag(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "NLPTAG_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "nlptag.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def fit_on(tmp_path, train_text: str | None, *extra: str) -> subprocess.CompletedProcess:
    train = tmp_path / "train.conllu"
    if train_text is not None:
        train.write_text(train_text, encoding="utf-8")
    (tmp_path / "dev.conllu").write_text(GOOD, encoding="utf-8")
    return nlptag(
        "fit",
        "--config",
        "configs/demo.yaml",
        "--data.init_args.dataset=null",
        f"--data.init_args.train_file={train}",
        f"--data.init_args.validation_file={tmp_path / 'dev.conllu'}",
        f"--trainer.default_root_dir={tmp_path / 'run'}",
        "--trainer.max_epochs=1",
        *extra,
    )


def assert_clean_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for needle in needles:
        assert needle in result.stderr, result.stderr[-3000:]


def test_wrong_column_count(tmp_path):
    bad = GOOD.replace("2\tcat\t_\tNOUN\tnoun\t_\t_\t_\t_\t_", "2\tcat\tNOUN")
    assert_clean_error(fit_on(tmp_path, bad), "train.conllu:4:", "expected 10 TAB-separated")


def test_non_numeric_id(tmp_path):
    bad = GOOD.replace("1\tthe\t", "one\tthe\t")
    assert_clean_error(fit_on(tmp_path, bad), "train.conllu:3:", "ID 'one' is not a word index")


def test_empty_sentence(tmp_path):
    bad = GOOD + "\n# sent_id = s3\n# text =\n\n"
    assert_clean_error(fit_on(tmp_path, bad), "train.conllu:11:", "empty sentence")


def test_missing_file(tmp_path):
    assert_clean_error(fit_on(tmp_path, None), "data.train_file:", "does not exist")


def test_empty_file(tmp_path):
    assert_clean_error(fit_on(tmp_path, ""), "train.conllu: the file is empty")


def test_unknown_dataset_name(tmp_path):
    result = nlptag(
        "fit",
        "--config",
        "configs/demo.yaml",
        "--data.init_args.dataset=ud_ewt_typo",
        f"--trainer.default_root_dir={tmp_path}",
    )
    assert_clean_error(result, "unknown dataset name 'ud_ewt_typo'", "ud_en_ewt")


@pytest.mark.parametrize("key", ["--trainer.max_epochz=3", "--model.init_args.hiden_size=3"])
def test_option_that_does_not_exist(key):
    result = nlptag("fit", "--config", "configs/demo.yaml", key)
    assert_clean_error(result, key.split("=")[0].split(".")[-1])
    assert len(result.stderr.strip().splitlines()) == 1


def test_config_file_key_that_does_not_exist(tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("model:\n  init_args:\n    encoder:\n      init_args:\n        hiden_size: 5\n")
    result = nlptag("fit", "--config", "configs/demo.yaml", "--config", str(typo))
    assert_clean_error(result, "'hiden_size' is not accepted")
