"""A real two-process DDP fit on CPU (gloo): metrics must be reduced across the ranks."""

import csv
import json
import os
import subprocess
import sys

import pytest

import nlptag
from data_modules.batching import BucketBatchSampler
from data_modules.tagging import TaggingDataModule
from nlptag.cli import main
from tests.conftest import REPO


def run_nlptag(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python -m nlptag.cli ARGUMENTS`` in the repository; it must succeed without a trace."""
    result = subprocess.run(
        [sys.executable, "-m", "nlptag.cli", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


def last_logged(path, key: str) -> float:
    rows = [row for row in csv.DictReader(open(path)) if row.get(key)]
    return float(rows[-1][key])


@pytest.mark.slow
def test_two_process_ddp_fit_reduces_metrics_across_ranks(tmp_path):
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "nlptag.cli", "fit", "--config", "configs/base/trainer.yaml"]
        + ["--config", "configs/demo.yaml"]
        + [f"--trainer.default_root_dir={run}", "--trainer.max_epochs=2"]
        + ["--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"]
        + ["--data.init_args.batch_size=2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        # NLPTAG_VERBOSE: Lightning's info lines, which name the backend and the processes
        env={**os.environ, "OMP_NUM_THREADS": "1", "NLPTAG_VERBOSE": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributed_backend=gloo" in result.stderr + result.stdout
    assert "All distributed processes registered. Starting with 2 processes" in (
        result.stderr + result.stdout
    )
    ddp_accuracy = last_logged(run / "metrics.csv", "val/acc")

    # the same checkpoint validated in one process, on the whole validation set
    single = tmp_path / "single"
    status = main(
        ["validate", "--config", "configs/demo.yaml", f"--trainer.default_root_dir={single}"]
        + ["--ckpt_path", str(run / "checkpoints" / "last.ckpt")]
    )
    assert status == 0
    full_accuracy = last_logged(single / "metrics.csv", "val/acc")
    assert ddp_accuracy == pytest.approx(full_accuracy, abs=1e-6)

    # ... and that differs from what rank 0 alone saw, so the equality above needs the reduction
    data = TaggingDataModule(dataset="demo", min_word_freq=1)
    tagger = nlptag.load(run / "checkpoints" / "last.ckpt")
    validation = data.load_split("validation")
    rank0 = [
        i
        for batch in BucketBatchSampler(
            [len(t) for t in validation["tokens"]], 2, shuffle=False, num_replicas=2, rank=0
        )
        for i in batch
    ]
    tokens = [validation["tokens"][i] for i in rank0]
    gold = [validation["tags"][i] for i in rank0]
    predicted = [r["tags"] for r in tagger.predict(tokens)]
    pairs = [(p, g) for ps, gs in zip(predicted, gold) for p, g in zip(ps, gs)]
    rank0_accuracy = sum(p == g for p, g in pairs) / len(pairs)
    assert rank0_accuracy != pytest.approx(full_accuracy, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "config, metric, single_batch_size",
    [
        ("configs/ner/conll2003.yaml", "val/f1", 4),
        ("configs/translation/multi30k_de_en.yaml", "val/bleu", 4),
        # the LM cuts the text into batch_size x world_size streams: one process reads the same
        # 8 streams with batch_size 8
        ("configs/lm/tinyshakespeare_char.yaml", "val/loss", 8),
    ],
)
def test_two_process_ddp_fit_of_each_task_reports_the_whole_validation_set(
    config, metric, single_batch_size, tmp_path
):
    """NER's entity F1, translation's BLEU and the LM's loss logged by a 2-process DDP fit equal
    the same checkpoint's scores validated in one process (tiny generated data of the configs'
    own tests; translation's 10 validation pairs fit one evaluation batch, which is split so
    that each rank has one)."""
    from tests.test_configs import header_configs, tiny_data

    data = tmp_path / "data"
    data.mkdir()
    configs = [arg for c in header_configs(REPO / config) for arg in ("--config", c)]
    options = tiny_data(REPO / config, data) + ["--trainer.max_time=null"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NLPTAG_CACHE_DIR": str(tmp_path / "cache")}
    run = tmp_path / "run"
    run_nlptag(
        ["fit", *configs, *options]
        + [f"--trainer.default_root_dir={run}", "--trainer.max_epochs=1"]
        + ["--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"]
        + ["--trainer.num_sanity_val_steps=0", "--data.init_args.batch_size=4"],
        env,
    )
    ddp_value = last_logged(run / "metrics.csv", metric)
    single = tmp_path / "single"
    run_nlptag(
        ["validate", *configs, *options]
        + [f"--trainer.default_root_dir={single}", "--trainer.accelerator=cpu"]
        + ["--trainer.devices=1", f"--data.init_args.batch_size={single_batch_size}"]
        + ["--ckpt_path", str(run / "checkpoints" / "last.ckpt")],
        env,
    )
    assert ddp_value == pytest.approx(last_logged(single / "metrics.csv", metric), abs=1e-4)


@pytest.mark.slow
def test_two_process_predict_writes_the_one_process_output(tmp_path):
    """``nlptag predict`` under 2-process DDP: each rank tags its share of the batches and rank
    0 writes one predictions.jsonl in input order, byte for byte the 1-process file."""
    run = tmp_path / "run"
    assert (
        main(
            ["fit", "--config", "configs/demo.yaml", f"--trainer.default_root_dir={run}"]
            + ["--trainer.max_epochs=2", "--trainer.enable_model_summary=false"]
        )
        == 0
    )
    # the demo's train and dev files as one 40-sentence input, in batches of 3
    text = "".join(
        (REPO / "nlptag" / "resources" / "demo" / name).read_text().strip() + "\n\n"
        for name in ("train.conllu", "dev.conllu")
    )
    (tmp_path / "input.conllu").write_text(text)
    common = [
        "--config",
        str(run / "config.yaml"),
        "--ckpt_path",
        str(run / "checkpoints/best.ckpt"),
    ]
    common += [f"--data.init_args.predict_file={tmp_path / 'input.conllu'}"]
    common += ["--data.init_args.batch_size=3"]
    outputs = {}
    for processes in (1, 2):
        folder = tmp_path / f"predict{processes}"
        run_nlptag(
            ["predict", *common]
            + [f"--trainer.default_root_dir={folder}", "--trainer.accelerator=cpu"]
            + [f"--trainer.devices={processes}"]
            + (["--trainer.strategy=ddp"] if processes > 1 else []),
            {**os.environ, "OMP_NUM_THREADS": "1"},
        )
        outputs[processes] = (folder / "predictions.jsonl").read_text()
    sentences = text.strip().count("\n\n") + 1
    rows = [json.loads(line) for line in outputs[2].splitlines()]
    assert [row["index"] for row in rows] == list(range(sentences))
    assert outputs[2] == outputs[1]
