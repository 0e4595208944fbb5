"""Every shipped config is exercised, in the default suite and without the data mirror: each
task config is run exactly as the command in its header composes it (the base files, the task
config, its overrides), on tiny fixture files, for two training and two validation steps. With
the data mirror, a slow test runs the same commands on the real data."""

import csv
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import nlptag
from nlptag.cli import main
from tests.conftest import REPO, SHARED_DATA, _toy_ner
from tests.test_translation import write_pairs

CONFIGS = sorted((REPO / "configs").glob("**/*.yaml"))
BASES = [c for c in CONFIGS if c.parent.name == "base"]
OVERRIDES = [c for c in CONFIGS if c.parent.name == "overrides"]
TASK_CONFIGS = [c for c in CONFIGS if c not in BASES and c not in OVERRIDES]
DEMO_DATA = REPO / "nlptag" / "resources" / "demo"


def header_fit_command(config: Path) -> list[str]:
    """The ``nlptag fit`` command of ``config``'s header comment, continuation lines joined."""
    lines = config.read_text().splitlines()
    header = [
        line[1:].strip()
        for line in lines[: next(i for i, x in enumerate(lines) if not x.startswith("#"))]
    ]
    text = " ".join(header).replace("\\ ", " ")
    match = re.search(r"nlptag fit (.*?)(?= nlptag |$)", text)
    assert match, f"{config} has no `nlptag fit` command in its header"
    return match.group(1).split()


def header_configs(config: Path) -> list[str]:
    words = header_fit_command(config)
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--config"]


def test_configs_were_found():
    assert (REPO / "configs" / "demo.yaml") in TASK_CONFIGS
    assert (REPO / "configs" / "pos" / "ud_ewt.yaml") in TASK_CONFIGS
    assert BASES and OVERRIDES


@pytest.mark.parametrize("config", TASK_CONFIGS, ids=lambda c: str(c.relative_to(REPO)))
def test_every_task_config_header_composes_the_base_then_itself(config):
    composed = header_configs(config)
    assert composed[0] == "configs/base/trainer.yaml", composed
    assert composed[-1] == str(config.relative_to(REPO)), composed


def test_the_fast_pos_config_is_an_override_of_the_accurate_one():
    fast = REPO / "configs" / "pos" / "ud_ewt_fast.yaml"
    assert header_configs(fast)[1:] == ["configs/pos/ud_ewt.yaml", "configs/pos/ud_ewt_fast.yaml"]
    assert "class_path: nlptag.tasks" not in fast.read_text()  # it only states what differs


def tiny_data(config: Path, folder: Path) -> list[str]:
    """Options that point ``config``'s data module at tiny generated files."""
    task = config.parent.name
    if config.name == "demo.yaml":
        return []
    if task == "pos":
        files = {
            s: DEMO_DATA / f for s, f in [("train", "train.conllu"), ("validation", "dev.conllu")]
        }
    elif task == "ner":
        files = {"train": folder / "train.txt", "validation": folder / "dev.txt"}
        files["train"].write_text(_toy_ner(40, 0))
        files["validation"].write_text(_toy_ner(10, 1))
    elif task == "sentiment":
        generator = random.Random(0)
        rows = ["sentence\tlabel"] + [
            f"{' '.join(generator.choices(['good', 'bad', 'film'], k=4))}\t{i % 2}"
            for i in range(40)
        ]
        files = {"train": folder / "train.tsv", "validation": folder / "train.tsv"}
        files["train"].write_text("\n".join(rows) + "\n")
    elif task == "lm":
        files = {"train": folder / "text.txt"}
        files["train"].write_text("First Citizen:\nBefore we proceed any further, hear me.\n" * 20)
        return [f"--data.init_args.train_file={files['train']}", "--data.init_args.dataset=null"]
    elif task == "translation":
        write_pairs(folder / "train", 60, seed=0)
        write_pairs(folder / "dev", 10, seed=1)
        files = {"train": folder / "train", "validation": folder / "dev"}
    elif task == "captioning":
        from tests.captioning_fixtures import data_args, write_shapes

        # a few generated pictures; the shipped encoder (EfficientNet-Lite0) extracts them
        files = write_shapes(folder, per_class={"train": 1, "validation": 1, "test": 1})
        return data_args(files, encoder="efficientnet-lite0")
    else:
        raise AssertionError(f"no tiny data for {config}: add it here")
    return ["--data.init_args.dataset=null"] + [
        f"--data.init_args.{split}_file={path}" for split, path in files.items()
    ]


def run_header_command(config: Path, tmp_path: Path, *extra: str) -> int:
    composed = [arg for c in header_configs(config) for arg in ("--config", str(REPO / c))]
    return main(
        ["fit", *composed, "--trainer.fast_dev_run=2", f"--trainer.default_root_dir={tmp_path}"]
        + list(extra)
    )


@pytest.mark.parametrize("config", TASK_CONFIGS, ids=lambda c: str(c.relative_to(REPO)))
def test_task_config_trains_on_tiny_data(config, tmp_path, monkeypatch):
    """One short epoch (2 training, 2 validation batches) instead of ``fast_dev_run``, so the run
    is a real one: its checkpoints, its logged loss and main metric, and its saved config are
    checked, not only its exit status."""
    monkeypatch.setenv("NLPTAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NLPTAG_OFFLINE", "1")
    data = tmp_path / "data"
    data.mkdir()
    run = tmp_path / "run"
    short = [
        "--trainer.fast_dev_run=false", "--trainer.max_epochs=1", "--trainer.max_time=null",
        "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=2",
        "--trainer.num_sanity_val_steps=0", "--trainer.log_every_n_steps=1",
    ]  # fmt: skip
    assert run_header_command(config, run, *tiny_data(config, data), *short) == 0
    assert (run / "checkpoints" / "best.ckpt").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    model = yaml.safe_load((run / "config.yaml").read_text())["model"]
    assert model["class_path"] == composed_class_path(config)
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    losses = [float(row["train/loss"]) for row in rows if row.get("train/loss")]
    assert losses and all(math.isfinite(loss) and loss > 0 for loss in losses)
    module = nlptag.load(run / "checkpoints" / "best.ckpt")
    assert module is not None
    metric = checkpoint_main_metric(run / "checkpoints" / "best.ckpt")
    values = [float(row[metric]) for row in rows if row.get(metric)]
    assert len(values) == 1 and math.isfinite(values[0]), (metric, values)
    if metric != "val/loss":  # scores are percentages
        assert 0 <= values[0] <= 100


def composed_class_path(config: Path) -> str:
    """The model class path the header's composed configs end up with (the last one naming it)."""
    paths = [
        yaml.safe_load((REPO / c).read_text()).get("model", {}).get("class_path")
        for c in header_configs(config)
    ]
    return [path for path in paths if path][-1]


def checkpoint_main_metric(checkpoint: Path) -> str:
    """The metric best.ckpt was chosen by, as its ModelCheckpoint state records it."""
    from nlptag.inference.checkpoints import load_checkpoint

    states = load_checkpoint(checkpoint)["callbacks"]
    monitors = [state["monitor"] for key, state in states.items() if "ModelCheckpoint" in key]
    return next(monitor for monitor in monitors if monitor)


@pytest.mark.slow
@pytest.mark.parametrize("config", TASK_CONFIGS, ids=lambda c: str(c.relative_to(REPO)))
def test_task_config_trains_on_its_real_data(config, tmp_path, monkeypatch):
    if config.name != "demo.yaml":
        if not SHARED_DATA.is_dir():
            pytest.skip(f"needs the data mirror {SHARED_DATA} (set NLPTAG_DATA_DIR)")
        monkeypatch.setenv("NLPTAG_DATA_DIR", str(SHARED_DATA))
    assert run_header_command(config, tmp_path) == 0


OVERRIDE_SETTINGS = {
    "multi_gpu.yaml": ["strategy: ddp", "precision: bf16-mixed", "accelerator: gpu"],
    "cpu_bf16.yaml": ["precision: bf16-mixed", "accelerator: cpu"],
}


def test_every_override_has_its_expected_settings():
    assert sorted(OVERRIDE_SETTINGS) == sorted(c.name for c in OVERRIDES)


@pytest.mark.parametrize("override", OVERRIDES, ids=lambda c: c.name)
def test_override_config_parses(override):
    result = subprocess.run(
        [sys.executable, "-m", "nlptag.cli", "fit", "--config", "configs/base/trainer.yaml"]
        + ["--config", "configs/demo.yaml", "--config", str(override), "--print_config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for setting in OVERRIDE_SETTINGS[override.name]:
        assert setting in result.stdout, setting
