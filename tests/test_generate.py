"""``nlptag generate`` end to end, on a model trained with the shipped Tiny Shakespeare config."""

from pathlib import Path

import pytest
import torch

import nlptag
from nlptag.cli import main
from nlptag.cli.predict import generate_main
from nlptag.errors import NlptagError
from nlptag.inference.export import export

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs" / "lm" / "tinyshakespeare_char.yaml")
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 4


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A few steps of the shipped config, shrunk, on a small text instead of Tiny Shakespeare."""
    run = tmp_path_factory.mktemp("lm")
    (run / "text.txt").write_text(TEXT)
    status = main(
        [
            "fit",
            "--config",
            CONFIG,
            "--trainer.default_root_dir",
            str(run),
            "--trainer.max_steps",
            "6",
            "--trainer.callbacks",
            "[{class_path: nlptag.callbacks.samples.SampleText, init_args: {every_n_steps: 3}},"
            " {class_path: nlptag.callbacks.gradient_flow.GradientFlow,"
            " init_args: {every_n_steps: 3}}]",
            "--data.dataset",
            "null",
            "--data.train_file",
            str(run / "text.txt"),
            "--data.batch_size",
            "2",
            "--data.bptt_steps",
            "20",
            "--model.network.init_args.hidden_size",
            "16",
        ]
    )
    assert status == 0
    assert "sample at step 3" in (run / "samples.txt").read_text()
    return run / "checkpoints" / "last.ckpt"


def generate(capsys, *args: str) -> str:
    assert generate_main(list(args)) == 0
    return capsys.readouterr().out


def test_checkpoint_rebuilds_the_model_and_its_vocabulary(checkpoint):
    state = torch.load(checkpoint, weights_only=True)
    predictor = nlptag.load(checkpoint)
    assert predictor.vocabulary.entries == state["CharLMDataModule"]["chars"]
    assert predictor.vocabulary.entries[0] == "<unk>"
    assert predictor.network.rnn.hidden_size == 16
    assert not predictor.network.training


def test_a_seed_makes_samples_reproducible(checkpoint, capsys):
    first = generate(capsys, str(checkpoint), "--prime", "All:", "--length", "40", "--seed", "7")
    again = generate(capsys, str(checkpoint), "--prime", "All:", "--length", "40", "--seed", "7")
    other = generate(capsys, str(checkpoint), "--prime", "All:", "--length", "40", "--seed", "8")
    assert first == again
    assert first != other
    assert first.startswith("All:") and len(first) == len("All:") + 40 + 1  # and a newline


def test_options_and_unknown_characters(checkpoint, capsys):
    out = generate(
        capsys, str(checkpoint), "--prime", "Zoë", "--length", "25", "--top-k", "3", "--seed", "1"
    )
    assert out.startswith("Zoë") and "<unk>" not in out
    greedy = generate(
        capsys, str(checkpoint), "--prime", "All", "--length", "60", "--temperature", "0"
    )
    assert greedy == generate(
        capsys, str(checkpoint), "--prime", "All", "--length", "60", "--temperature", "0"
    )


def test_the_cli_dispatches_generate_and_reports_user_errors(checkpoint, tmp_path, capsys):
    assert main(["generate", str(checkpoint), "--length", "5", "--seed", "0"]) == 0
    assert main(["generate", str(tmp_path / "missing.ckpt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["generate", str(checkpoint), "--temperature", "-1"]) == 2
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(NlptagError, match="is not a PyTorch checkpoint"):
        nlptag.load(tmp_path / "junk.ckpt")


def test_a_bundle_generates_what_its_checkpoint_generates(checkpoint, tmp_path, capsys):
    bundle = export(checkpoint, tmp_path / "bundle")
    args = ["--prime", "All:", "--length", "40", "--seed", "7"]
    assert generate(capsys, str(bundle), *args) == generate(capsys, str(checkpoint), *args)
