"""Bad input through the real ``nlptag`` command, one row per case: each must exit non-zero
with one ``nlptag: error:`` paragraph that names the file and line (or the option), and no
traceback. Runs ``nlptag.cli.main`` in-process (a subprocess per row would take minutes); an
exception escaping ``main`` is what a user would see as a traceback, and fails the row."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from nlptag.cli import main
from tests.conftest import REPO, conllu

DEMO = str(REPO / "configs" / "demo.yaml")
NER = str(REPO / "configs" / "ner" / "conll2003.yaml")
SST2 = str(REPO / "configs" / "sentiment" / "sst2.yaml")
LM = str(REPO / "configs" / "lm" / "tinyshakespeare_char.yaml")
MT = str(REPO / "configs" / "translation" / "multi30k_de_en.yaml")
GOOD_CONLLU = conllu([[("the", "DET"), ("cat", "NOUN")], [("a", "DET"), ("dog", "NOUN")]])
NOT_UTF8 = b"the cat\nd\xe9j\xe0 vu\n"


class Case(NamedTuple):
    """A command line (built from the fixture's paths), optional stdin bytes, and the strings
    its error line must contain."""

    argv: Callable[[dict[str, Path]], list[str]]
    needles: tuple[str, ...]
    stdin: bytes | None = None


def _write(root: Path, name: str, data: str | bytes) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def paths(tiny_checkpoints, tmp_path_factory) -> dict[str, Path]:
    """A tiny tagger's checkpoint and bundle, damaged copies of both, and bad input files."""
    root = tmp_path_factory.mktemp("error_table")
    checkpoint = tiny_checkpoints("tagging")["checkpoint"]
    bundle = root / "bundle"
    assert main(["export", str(checkpoint), str(bundle)]) == 0
    p: dict[str, Path] = {"ckpt": checkpoint, "bundle": bundle, "root": root}

    def damaged(name: str, change: Callable[[Path], None]) -> Path:
        copy = root / f"bundle_{name}"
        shutil.copytree(bundle, copy)
        change(copy)
        return copy

    def edit_config(**changes) -> Callable[[Path], None]:
        def change(directory: Path) -> None:
            config = json.loads((directory / "config.json").read_text())
            for key, value in changes.items():
                if key == "network_class_path":
                    config["network"]["class_path"] = value
                else:
                    config[key] = value
            (directory / "config.json").write_text(json.dumps(config))

        return change

    p["no_config"] = damaged("no_config", lambda d: (d / "config.json").unlink())
    p["bad_json"] = damaged(
        "bad_json", lambda d: (d / "config.json").write_text('{\n  "format": \n')
    )
    p["version"] = damaged("version", edit_config(format_version=99))
    p["no_weights"] = damaged("no_weights", lambda d: (d / "model.safetensors").unlink())
    p["evil_class"] = damaged("evil_class", edit_config(network_class_path="os.system"))
    p["garbage_ckpt"] = _write(root, "garbage.ckpt", os.urandom(3000))
    p["truncated_ckpt"] = _write(root, "truncated.ckpt", checkpoint.read_bytes()[:4000])
    p["text_ckpt"] = _write(root, "text.ckpt", "this is not a checkpoint\n")
    p["not_utf8"] = _write(root, "latin1.txt", NOT_UTF8)
    p["good_text"] = _write(root, "good.txt", "the cat sleeps\n")
    p["not_gzip"] = _write(root, "fake.txt.gz", "not gzip data\n")
    p["bad_conllu"] = _write(root, "bad.conllu", "1\tthe\tDET\n")
    p["bad_id"] = _write(root, "bad_id.conllu", GOOD_CONLLU.replace("1\tthe\t", "one\tthe\t"))
    p["not_utf8_conllu"] = _write(
        root, "latin1.conllu", GOOD_CONLLU.encode().replace(b"cat", b"c\xe4t")
    )
    p["good_conllu"] = _write(root, "good.conllu", GOOD_CONLLU)
    p["ragged_conll"] = _write(root, "ragged.txt", "ann X X I-PER\nmet X X O\nparis X I-LOC\n")
    p["conlleval_ragged"] = _write(root, "pred.txt", "a NN O O\nb NN O O\nc O O\n")
    p["conlleval_short"] = _write(root, "short.txt", "a O\n")
    p["bad_yaml"] = _write(root, "bad.yaml", "model:\n  init_args:\n    encoder: [1, 2\n  x: 3\n")
    p["typed_yaml"] = _write(
        root,
        "typed.yaml",
        "model:\n  init_args:\n    encoder:\n      init_args:\n        hidden_size: abc\n",
    )
    p["typo_yaml"] = _write(
        root,
        "typo.yaml",
        "model:\n  init_args:\n    encoder:\n      init_args:\n        hiden_size: 5\n",
    )
    p["tsv_ragged"] = _write(root, "ragged.tsv", "sentence\tlabel\na b\t1\nc d\t0\textra\n")
    p["tsv_no_column"] = _write(root, "nocol.tsv", "text\tlabel\na b\t1\n")
    p["jsonl_missing"] = _write(
        root, "missing.jsonl", '{"sentence": "a b", "label": "1"}\n{"sentence": "c"}\n'
    )
    p["jsonl_invalid"] = _write(root, "invalid.jsonl", '{"sentence": "a b", "label": "1"}\n{oops\n')
    p["csv_empty_label"] = _write(root, "empty.csv", "sentence,label\na b,1\nc d,\n")
    p["lm_not_utf8"] = _write(root, "lm.txt", b"First Citizen:\nBefore we proceed\xff\n")
    p["mt_train"] = root / "mt" / "train"
    _write(root, "mt/train.de", "ein hund\nzwei katzen\ndrei\n")
    _write(root, "mt/train.en", "a dog\ntwo cats\n")
    p["dir"] = root / "a_directory"
    p["dir"].mkdir()
    return p


def fit(config: str, *extra: str) -> Callable[[dict[str, Path]], list[str]]:
    """``nlptag fit --config CONFIG ...`` in the fixture's run directory; ``{name}`` in an
    argument is replaced by the fixture's path of that name."""
    return lambda p: [
        "fit",
        "--config",
        config,
        f"--trainer.default_root_dir={p['root'] / 'run'}",
        "--trainer.logger=false",
        *(arg.format(**p) for arg in extra),
    ]


def run_test(config: str, *extra: str) -> Callable[[dict[str, Path]], list[str]]:
    return lambda p: ["test", *fit(config, *extra)(p)[1:]]


def tool(*args: str) -> Callable[[dict[str, Path]], list[str]]:
    return lambda p: [arg.format(**p) for arg in args]


OWN_TRAIN = ("--data.init_args.dataset=null",)
CASES: dict[str, Case] = {
    # --- configs and options (LightningCLI) ---------------------------------------------------
    "fit yaml syntax error": Case(
        fit(DEMO, "--config={bad_yaml}"), ("bad.yaml:4:", "invalid YAML")
    ),
    "fit wrong type on the command line": Case(
        fit(DEMO, "--trainer.max_epochs=abc"), ("--trainer.max_epochs", "expected int", "'abc'")
    ),
    "fit wrong type of a data option": Case(
        fit(DEMO, "--data.init_args.batch_size=abc"),
        ("--data.init_args.batch_size", "expected int", "'abc'"),
    ),
    "fit wrong type in a config file": Case(
        fit(DEMO, "--config={typed_yaml}"), ("typed.yaml:5:", "hidden_size", "expected int")
    ),
    "fit value outside a closed choice": Case(
        fit(DEMO, "--model.init_args.encoder.init_args.cell=lstmm"),
        ("--model.init_args.encoder.init_args.cell", "one of 'lstm'", "'lstmm'"),
    ),
    "fit negative batch size": Case(
        fit(DEMO, "--data.init_args.batch_size", "-1"), ("data.batch_size", "-1")
    ),
    "fit zero batch size": Case(
        fit(DEMO, "--data.init_args.batch_size=0"), ("data.batch_size", "got 0")
    ),
    "fit option that does not exist": Case(
        fit(DEMO, "--trainer.max_epochz=3"), ("--trainer.max_epochz",)
    ),
    "fit config key that does not exist": Case(
        fit(DEMO, "--config={typo_yaml}"), ("'hiden_size' is not accepted",)
    ),
    "fit config file that does not exist": Case(
        fit(DEMO, "--config={root}/missing.yaml"), ("--config", "missing.yaml")
    ),
    "fit unknown dataset name": Case(
        fit(DEMO, "--data.init_args.dataset=ud_ewt_typo"), ("unknown dataset name",)
    ),
    "fit train file not UTF-8": Case(
        fit(DEMO, *OWN_TRAIN, "--data.init_args.train_file={not_utf8_conllu}"),
        ("latin1.conllu:2:", "not UTF-8"),
    ),
    "fit train file with a wrong column count": Case(
        fit(DEMO, *OWN_TRAIN, "--data.init_args.train_file={bad_conllu}"),
        ("bad.conllu:1:", "expected 10 TAB-separated columns"),
    ),
    "fit train file with a bad CoNLL-U ID": Case(
        fit(DEMO, *OWN_TRAIN, "--data.init_args.train_file={bad_id}"),
        ("bad_id.conllu:3:", "ID 'one'"),
    ),
    "fit train file is a directory": Case(
        fit(DEMO, *OWN_TRAIN, "--data.init_args.train_file={dir}"),
        ("data.train_file", "a_directory"),
    ),
    "fit CoNLL columns of unequal width": Case(
        fit(NER, *OWN_TRAIN, "--data.init_args.train_file={ragged_conll}"),
        ("ragged.txt:3:", "3 columns, expected 4"),
    ),
    "fit TSV with a wrong field count": Case(
        fit(SST2, "--data.dataset=null", "--data.train_file={tsv_ragged}"),
        ("ragged.tsv:3:", "expected 2 fields, found 3"),
    ),
    "fit TSV without the text column": Case(
        fit(SST2, "--data.dataset=null", "--data.train_file={tsv_no_column}"),
        ("nocol.tsv:1:", "no column 'sentence'"),
    ),
    "fit JSONL without the label field": Case(
        fit(SST2, "--data.dataset=null", "--data.train_file={jsonl_missing}"),
        ("missing.jsonl:2:", "no field 'label'"),
    ),
    "fit JSONL line that is not JSON": Case(
        fit(SST2, "--data.dataset=null", "--data.train_file={jsonl_invalid}"),
        ("invalid.jsonl:2:", "invalid JSON"),
    ),
    "fit CSV with an empty label": Case(
        fit(SST2, "--data.dataset=null", "--data.train_file={csv_empty_label}"),
        ("empty.csv:3:", "label ('label') is empty"),
    ),
    "fit char LM text not UTF-8": Case(
        fit(LM, "--data.dataset=null", "--data.train_file={lm_not_utf8}"),
        ("lm.txt:2:", "not UTF-8"),
    ),
    "fit parallel files with different line counts": Case(
        fit(MT, "--data.init_args.dataset=null", "--data.init_args.train_file={mt_train}"),
        ("train.de has 3 lines", "train.en has 2"),
    ),
    "test garbage checkpoint": Case(
        run_test(DEMO, "--ckpt_path={garbage_ckpt}"),
        ("garbage.ckpt", "not a PyTorch checkpoint"),
    ),
    "test truncated checkpoint": Case(
        run_test(DEMO, "--ckpt_path={truncated_ckpt}"), ("truncated.ckpt", "truncated")
    ),
    "test text file as checkpoint": Case(
        run_test(DEMO, "--ckpt_path={text_ckpt}"), ("text.ckpt", "not a PyTorch checkpoint")
    ),
    "test checkpoint that does not exist": Case(
        run_test(DEMO, "--ckpt_path={root}/missing.ckpt"), ("--ckpt_path", "missing.ckpt")
    ),
    "test checkpoint that is a directory": Case(
        run_test(DEMO, "--ckpt_path={dir}"), ("--ckpt_path", "is a directory")
    ),
    # --- nlptag tag ----------------------------------------------------------------------------
    "tag file not UTF-8": Case(tool("tag", "{bundle}", "{not_utf8}"), ("latin1.txt:2:",)),
    "tag stdin not UTF-8": Case(tool("tag", "{bundle}"), ("<stdin>:2:", "not UTF-8"), NOT_UTF8),
    "tag input is a directory": Case(tool("tag", "{bundle}", "{dir}"), ("a_directory",)),
    "tag input does not exist": Case(
        tool("tag", "{bundle}", "{root}/missing.txt"), ("missing.txt", "does not exist")
    ),
    "tag input is not gzip": Case(tool("tag", "{bundle}", "{not_gzip}"), ("fake.txt.gz",)),
    "tag malformed CoNLL-U": Case(
        tool("tag", "{bundle}", "{bad_conllu}"), ("bad.conllu:1:", "expected 10")
    ),
    "tag CoNLL columns of unequal width": Case(
        tool("tag", "{bundle}", "{ragged_conll}", "--input-format", "conll"), ("ragged.txt:3:",)
    ),
    "tag negative batch size": Case(
        tool("tag", "{bundle}", "{good_text}", "--batch-size", "-1"), ("--batch-size", "-1")
    ),
    "tag zero batch size": Case(
        tool("tag", "{bundle}", "{good_text}", "--batch-size=0"), ("--batch-size",)
    ),
    "tag -o into a missing directory": Case(
        tool("tag", "{bundle}", "{good_text}", "-o", "{root}/nowhere/out.txt"),
        ("-o", "nowhere", "does not exist"),
    ),
    "tag garbage checkpoint": Case(
        tool("tag", "{garbage_ckpt}", "--text", "a b"), ("garbage.ckpt", "not a PyTorch")
    ),
    "tag truncated checkpoint": Case(
        tool("tag", "{truncated_ckpt}", "--text", "a b"), ("truncated.ckpt",)
    ),
    "tag text file as checkpoint": Case(
        tool("tag", "{text_ckpt}", "--text", "a b"), ("text.ckpt",)
    ),
    "tag bundle without config.json": Case(
        tool("tag", "{no_config}", "--text", "a b"), ("config.json is missing",)
    ),
    "tag bundle with bad JSON": Case(
        tool("tag", "{bad_json}", "--text", "a b"), ("config.json:3:", "corrupt JSON")
    ),
    "tag bundle of a future format": Case(
        tool("tag", "{version}", "--text", "a b"), ("config.json", "format version 99")
    ),
    "tag bundle without weights": Case(
        tool("tag", "{no_weights}", "--text", "a b"), ("model.safetensors is missing",)
    ),
    "tag bundle naming a class outside the allow-list": Case(
        tool("tag", "{evil_class}", "--text", "a b"), ("config.json", "'os.system'")
    ),
    "tag bundle that does not exist": Case(
        tool("tag", "{root}/no_bundle", "--text", "a b"), ("no_bundle", "does not exist")
    ),
    # --- classify, translate, attention, generate -----------------------------------------------
    "classify file not UTF-8": Case(tool("classify", "{bundle}", "{not_utf8}"), ("latin1.txt:2:",)),
    "classify with a tagger": Case(
        tool("classify", "{bundle}", "{good_text}"), ("bundle", "not a classifier")
    ),
    "classify batch size not a number": Case(
        tool("classify", "{bundle}", "--batch-size", "many"), ("--batch-size", "'many'")
    ),
    "translate file not UTF-8": Case(
        tool("translate", "{bundle}", "{not_utf8}"), ("latin1.txt:2:",)
    ),
    "translate zero beam": Case(tool("translate", "{bundle}", "--beam", "0"), ("--beam",)),
    "translate -o into a missing directory": Case(
        tool("translate", "{bundle}", "{good_text}", "-o", "{root}/nowhere/out.txt"), ("-o",)
    ),
    "translate with a tagger": Case(
        tool("translate", "{bundle}", "{good_text}"), ("not a translation model",)
    ),
    "attention -o into a missing directory": Case(
        tool("attention", "{bundle}", "ein hund", "-o", "{root}/nowhere/a.png"), ("-o",)
    ),
    "generate temperature nan": Case(
        tool("generate", "{bundle}", "--temperature", "nan"), ("--temperature", "nan")
    ),
    "generate temperature inf": Case(
        tool("generate", "{bundle}", "--temperature=inf"), ("--temperature",)
    ),
    "generate negative temperature": Case(
        tool("generate", "{bundle}", "--temperature=-1"), ("--temperature",)
    ),
    "generate negative length": Case(tool("generate", "{bundle}", "--length=-5"), ("--length",)),
    "generate zero top-k": Case(tool("generate", "{bundle}", "--top-k", "0"), ("--top-k",)),
    "generate with a tagger": Case(tool("generate", "{bundle}"), ("not a language model",)),
    # --- evaluate, export, conlleval -----------------------------------------------------------
    "evaluate file that does not exist": Case(
        tool("evaluate", "{bundle}", "{root}/missing.conllu"), ("missing.conllu",)
    ),
    "evaluate malformed CoNLL-U": Case(
        tool("evaluate", "{bundle}", "{bad_conllu}"), ("bad.conllu:1:",)
    ),
    "evaluate file not UTF-8": Case(
        tool("evaluate", "{bundle}", "{not_utf8_conllu}"), ("latin1.conllu:2:", "not UTF-8")
    ),
    "evaluate garbage checkpoint": Case(
        tool("evaluate", "{garbage_ckpt}", "{good_conllu}"), ("garbage.ckpt",)
    ),
    "evaluate bundle of a future format": Case(
        tool("evaluate", "{version}", "{good_conllu}"), ("format version 99",)
    ),
    "export garbage checkpoint": Case(
        tool("export", "{garbage_ckpt}", "{root}/out1"), ("garbage.ckpt", "not a PyTorch")
    ),
    "export truncated checkpoint": Case(
        tool("export", "{truncated_ckpt}", "{root}/out2"), ("truncated.ckpt",)
    ),
    "export text file as checkpoint": Case(
        tool("export", "{text_ckpt}", "{root}/out3"), ("text.ckpt",)
    ),
    "export onto a file": Case(tool("export", "{ckpt}", "{good_text}"), ("good.txt", "is a file")),
    "conlleval file not UTF-8": Case(tool("conlleval", "{not_utf8}"), ("latin1.txt:2:",)),
    "conlleval stdin not UTF-8": Case(tool("conlleval"), ("<stdin>:2:",), NOT_UTF8),
    "conlleval unequal columns": Case(
        tool("conlleval", "{conlleval_ragged}"), ("pred.txt:3:", "3 columns, expected 4")
    ),
    "conlleval too few columns": Case(
        tool("conlleval", "{conlleval_short}"), ("short.txt:1:", "need at least 3 columns")
    ),
    "conlleval file that does not exist": Case(
        tool("conlleval", "{root}/missing.txt"), ("missing.txt",)
    ),
    "conlleval empty delimiter": Case(tool("conlleval", "-d", "", "{good_text}"), ("-d",)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_error(name, paths, capsys, monkeypatch):
    case = CASES[name]
    if case.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(case.stdin), "utf-8"))
    capsys.readouterr()
    status = main(case.argv(paths))  # an exception escaping here is a traceback for the user
    err = capsys.readouterr().err
    assert status != 0, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("nlptag: error: "), err
    for needle in case.needles:
        assert needle in errors[0], errors[0]


def test_the_table_is_large_enough():
    assert len(CASES) >= 40


def test_stdin_byte_order_mark_is_not_part_of_the_first_token(paths, capsys, monkeypatch):
    data = "\ufeffThe cat\n".encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), "utf-8"))
    assert main(["tag", str(paths["bundle"])]) == 0
    assert capsys.readouterr().out.splitlines()[0].split("\t")[0] == "The"


def test_file_byte_order_mark_crlf_and_gzip_are_read(paths, capsys):
    path = paths["root"] / "bom.txt.gz"
    path.write_bytes(gzip.compress("\ufeffThe cat\r\n".encode()))
    assert main(["tag", str(paths["bundle"]), str(path)]) == 0
    tokens = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines() if line]
    assert tokens == ["The", "cat"]


def test_unreadable_file_is_named(paths, capsys, monkeypatch):
    """Permission denied (simulated: the tests may run as root, who reads any file)."""
    target = paths["good_text"]
    read_bytes = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert main(["tag", str(paths["bundle"]), str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nlptag: error: {target}: cannot be read (Permission denied)"), err
    assert "Traceback" not in err
