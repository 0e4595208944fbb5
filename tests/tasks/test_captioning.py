"""Captioning end to end on generated shapes: ``nlptag fit`` learns to caption them exactly,
``nlptag test`` scores them perfectly; the attention penalty's math."""

from __future__ import annotations

import json

import pytest
import torch

from nlptag.cli import main
from nlptag.tasks.captioning import attention_penalty
from tests.captioning_fixtures import data_args, write_shapes

DECODERS = {
    "attention": "nlptag.models.captioning.SoftAttentionDecoder",
    "show_and_tell": "nlptag.models.captioning.ShowAndTellDecoder",
    "every_step": "nlptag.models.captioning.ImageEveryStepDecoder",
}


def fit_args(files, root, decoder: str, cell: str = "lstm", epochs: int = 40) -> list[str]:
    return [
        "fit",
        "--model=nlptag.tasks.captioning.ImageCaptioner",
        "--model.network=nlptag.models.captioning.CaptionNetwork",
        f"--model.network.decoder={DECODERS[decoder]}",
        "--model.network.decoder.embedding_dim=16",
        "--model.network.decoder.hidden_size=32",
        f"--model.network.decoder.cell={cell}",
        "--model.network.decoder.dropout=0.0",
        "--model.search=nlptag.models.caption_search.CaptionSearch",
        "--model.search.beam_size=2",
        "--model.meteor=false",
        "--model.optimizer=torch.optim.Adam",
        "--model.optimizer.lr=0.01",
        *data_args(files),
        "--seed_everything=0",
        f"--trainer.max_epochs={epochs}",
        "--trainer.accelerator=cpu",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=1",
        f"--trainer.default_root_dir={root}",
    ]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_shapes(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="module")
def trained(shapes, tmp_path_factory):
    """The attention model trained on the shapes (about 5 s)."""
    root = tmp_path_factory.mktemp("caption_run")
    assert main(fit_args(shapes, root, "attention")) == 0
    return root


def test_attention_model_learns_to_caption_the_shapes_exactly(trained, shapes):
    from nlptag.inference import load

    predictor = load(trained / "checkpoints" / "best.ckpt")
    test_images = sorted(p for p in shapes["images"].iterdir() if p.name.startswith("test_"))
    captions = predictor.predict(test_images)
    assert captions == [shapes["truth"][p.name] for p in test_images]


def test_test_scores_are_perfect_on_the_shapes(trained, shapes):
    args = fit_args(shapes, trained, "attention")
    args[0] = "test"
    assert main([*args, f"--ckpt_path={trained / 'checkpoints' / 'best.ckpt'}"]) == 0
    metrics = json.loads((trained / "metrics.json").read_text())
    for name in ("bleu1", "bleu4", "bleu4_greedy"):
        assert metrics[f"test/{name}"] == pytest.approx(100.0, abs=1e-3), name
    assert metrics["test/cider"] > 0  # every image shares its words with others: low idf


@pytest.mark.slow
@pytest.mark.parametrize(
    "decoder,cell",
    [("show_and_tell", "lstm"), ("every_step", "rnn"), ("every_step", "gru"),
     ("attention", "gru")],
)
def test_other_decoders_learn_the_shapes(shapes, tmp_path, decoder, cell):
    assert main(fit_args(shapes, tmp_path, decoder, cell, epochs=30)) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text()) if (
        tmp_path / "metrics.json"
    ).exists() else None
    from nlptag.inference import load

    predictor = load(tmp_path / "checkpoints" / "best.ckpt")
    test_images = sorted(p for p in shapes["images"].iterdir() if p.name.startswith("test_"))
    assert predictor.predict(test_images) == [shapes["truth"][p.name] for p in test_images]
    del metrics


def test_attention_penalty_is_zero_when_each_region_is_seen_once():
    weights = torch.eye(3).unsqueeze(0)  # 3 steps, 3 regions, one region each
    assert attention_penalty(weights, torch.ones(1, 3)).item() == 0.0
    uniform = torch.full((1, 2, 4), 0.25)  # 2 steps over 4 regions: coverage 0.5 each
    assert attention_penalty(uniform, torch.ones(1, 2)).item() == pytest.approx(0.25)
    # padded steps do not count
    assert attention_penalty(weights, torch.tensor([[1.0, 1.0, 0.0]])).item() == pytest.approx(
        1 / 3
    )
