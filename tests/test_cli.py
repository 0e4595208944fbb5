"""The ``nlptag`` command end to end: fit, test, metrics.json, checkpoints, resume, tools."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nlptag
from nlptag.cli import main
from tests.conftest import REPO

DEMO = str(REPO / "configs" / "demo.yaml")
QUICK = ["--trainer.enable_checkpointing=true", "--trainer.log_every_n_steps=1"]


def fit_demo(run_dir: Path, *extra: str) -> int:
    return main(
        ["fit", "--config", DEMO, "--trainer.default_root_dir", str(run_dir), *QUICK, *extra]
    )


def epochs_logged(run_dir: Path) -> list[int]:
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("val/acc")
    return [int(row.split(",")[0]) for row in lines[1:] if row.split(",")[column]]


def test_fit_writes_best_and_last_checkpoints_that_load_without_unpickling(tmp_path):
    assert fit_demo(tmp_path, "--trainer.max_epochs=3") == 0
    for name in ("best.ckpt", "last.ckpt"):
        path = tmp_path / "checkpoints" / name
        assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []
        checkpoint = torch.load(path, weights_only=True)
        assert checkpoint["hyper_parameters"]["tag_names"][0] in {"NOUN", "DET"}
        assert (
            checkpoint["TaggingDataModule"]["tags"] == checkpoint["hyper_parameters"]["tag_names"]
        )
    tagger = nlptag.load(tmp_path / "checkpoints" / "best.ckpt")
    (tags,) = [r["tags"] for r in tagger.predict([["The", "dog", "runs", "."]])]
    assert len(tags) == 4 and tags[-1] == "PUNCT"


def test_test_command_writes_flat_metrics_json(tmp_path):
    assert fit_demo(tmp_path, "--trainer.max_epochs=2") == 0
    demo_dev = REPO / "nlptag" / "resources" / "demo" / "dev.conllu"
    status = main(
        [
            "test",
            "--config",
            DEMO,
            "--trainer.default_root_dir",
            str(tmp_path),
            "--data.init_args.test_file",
            str(demo_dev),
            "--ckpt_path",
            str(tmp_path / "checkpoints" / "best.ckpt"),
        ]
    )
    assert status == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"test/acc", "test/loss"}
    # the percentage of dev tokens whose tag the checkpoint predicts, counted here independently
    from nlptag.text.readers import read_conllu

    sentences = list(read_conllu(demo_dev))
    tagger = nlptag.load(tmp_path / "checkpoints" / "best.ckpt")
    predicted = tagger.predict([s["tokens"] for s in sentences])
    pairs = [(p, g) for row, s in zip(predicted, sentences) for p, g in zip(row["tags"], s["tags"])]
    expected = 100 * sum(p == g for p, g in pairs) / len(pairs)
    assert metrics["test/acc"] == pytest.approx(expected, abs=1e-4)
    best = str(tmp_path / "checkpoints" / "best.ckpt")
    validate = ["validate", "--config", DEMO, "--trainer.default_root_dir", str(tmp_path)]
    assert main([*validate, "--ckpt_path", best]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"val/acc", "val/loss"}
    best_score = torch.load(best, weights_only=True)["callbacks"]
    (checkpoint_state,) = [
        v for k, v in best_score.items() if k.startswith("ModelCheckpoint{'monitor': 'val/acc'")
    ]
    assert metrics["val/acc"] == pytest.approx(float(checkpoint_state["best_model_score"]))


def test_help_lists_every_command():
    result = subprocess.run(
        [sys.executable, "-m", "nlptag.cli", "--help"], capture_output=True, text=True, check=True
    )
    # whole command names at the start of their help lines ("tag" inside "nlptag" is no match)
    tools = re.findall(r"^  ([a-z]+) {2,}\S", result.stdout, flags=re.MULTILINE)
    assert tools == [
        "conlleval",
        "export",
        "tag",
        "classify",
        "translate",
        "attention",
        "generate",
        "caption",
        "evaluate",
        "serve",
    ]
    usage = re.search(r"^usage: .* \{([a-z,]+)\} \.\.\.$", result.stdout, flags=re.MULTILINE)
    assert usage and usage.group(1).split(",") == ["fit", "validate", "test", "predict"]
    listed = re.findall(r"^    ([a-z]+) {2,}\S", result.stdout, flags=re.MULTILINE)
    assert listed == ["fit", "validate", "test", "predict"]


def test_predict_writes_tags_in_input_order(tmp_path):
    assert fit_demo(tmp_path, "--trainer.max_epochs=2") == 0
    demo_dev = REPO / "nlptag" / "resources" / "demo" / "dev.conllu"
    status = main(
        ["predict", "--config", DEMO, "--trainer.default_root_dir", str(tmp_path)]
        + ["--data.init_args.predict_file", str(demo_dev)]
        + ["--ckpt_path", str(tmp_path / "checkpoints" / "best.ckpt")]
    )
    assert status == 0
    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [row["index"] for row in rows] == list(range(10))
    lengths = [len(s.split("\n")) - 2 for s in demo_dev.read_text().strip().split("\n\n")]
    assert [len(row["prediction"]) for row in rows] == lengths


def test_a_runs_saved_config_reused_elsewhere_leaves_that_run_untouched(tmp_path, capsys, recwarn):
    """``--config RUN/config.yaml`` names RUN as the logger's folder; predict with another
    ``--trainer.default_root_dir`` writes there, not over RUN's config.yaml and hparams.yaml."""
    run = tmp_path / "run"
    assert fit_demo(run, "--trainer.max_epochs=1") == 0
    saved = {name: (run / name).read_bytes() for name in ("config.yaml", "hparams.yaml")}
    capsys.readouterr()
    recwarn.clear()
    elsewhere = tmp_path / "elsewhere"
    demo_dev = REPO / "nlptag" / "resources" / "demo" / "dev.conllu"
    status = main(
        ["predict", "--config", str(run / "config.yaml")]
        + ["--trainer.default_root_dir", str(elsewhere)]
        + ["--data.init_args.predict_file", str(demo_dev)]
        + ["--ckpt_path", str(run / "checkpoints" / "best.ckpt")]
    )
    assert status == 0
    assert {name: (run / name).read_bytes() for name in saved} == saved
    assert not (run / "predictions.jsonl").exists()
    assert len((elsewhere / "predictions.jsonl").read_text().splitlines()) == 10
    assert (elsewhere / "config.yaml").is_file()
    # nothing but nlptag's own line on the console (no Lightning notes about the checkpoint
    # folder or the evaluation sampler)
    captured = capsys.readouterr()
    assert captured.err.strip() == "", captured.err
    # (calling main() with a list is how tests run the CLI; Lightning notes that one)
    noted = [str(w.message) for w in recwarn]
    assert [m for m in noted if not m.startswith("LightningCLI's args parameter")] == []
    assert captured.out.strip().splitlines()[-1].startswith("predictions written to")


def test_predict_without_a_file_or_test_split_is_one_line(tmp_path, capsys):
    assert fit_demo(tmp_path, "--trainer.max_epochs=1") == 0
    capsys.readouterr()
    status = main(
        ["predict", "--config", DEMO, "--trainer.default_root_dir", str(tmp_path / "p")]
        + ["--ckpt_path", str(tmp_path / "checkpoints" / "best.ckpt")]
    )
    assert status != 0
    err = capsys.readouterr().err
    assert "data: nothing to predict; set data.predict_file (or data.test_file)" in err
    assert "Traceback" not in err
