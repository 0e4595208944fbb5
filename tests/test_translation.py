"""Translation end to end through ``nlptag``: fit, test (BLEU equals sacreBLEU on the predictions),
predict in input order, safe checkpoints, bad configuration."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import sacrebleu
import torch

from nlptag.cli import main

LEXICON = {
    "eins": "one",
    "zwei": "two",
    "drei": "three",
    "vier": "four",
    "rot": "red",
    "blau": "blue",
    "Haus": "house",
    "Hund": "dog",
}

CONFIG = """
seed_everything: 1
trainer:
  max_epochs: {epochs}
  accelerator: cpu
  devices: 1
  enable_progress_bar: false
  log_every_n_steps: 5
model:
  class_path: nlptag.tasks.translation.Translator
  init_args:
    embedding_dim: 32
    embedding_dropout: 0.0
    encoder:
      class_path: nlptag.models.encoders.RecurrentEncoder
      init_args: {{cell: gru, hidden_size: 32, num_layers: 1, dropout: 0.0}}
    decoder:
      class_path: nlptag.models.seq2seq.RecurrentDecoder
      init_args:
        {{embedding_dim: 32, cell: gru, hidden_size: 64, attention: additive, dropout: 0.0}}
    share_embeddings: true
    label_smoothing: 0.0
    beam_size: 3
    optimizer:
      class_path: torch.optim.Adam
      init_args: {{lr: 0.005}}
data:
  class_path: data_modules.ParallelTextDataModule
  init_args:
    dataset: null
    train_file: {data}/train
    validation_file: {data}/dev
    test_file: {data}/dev
    vocab_size: 120
    batch_size: 16
"""


def write_pairs(prefix: Path, count: int, seed: int) -> None:
    """Word-by-word 'German' -> 'English' sentences of 2-6 words."""
    generator = random.Random(seed)
    words = sorted(LEXICON)
    sources, targets = [], []
    for _ in range(count):
        sentence = [generator.choice(words) for _ in range(generator.randint(2, 6))]
        sources.append(" ".join(sentence))
        targets.append(" ".join(LEXICON[w] for w in sentence))
    prefix.with_name(prefix.name + ".de").write_text("\n".join(sources) + "\n")
    prefix.with_name(prefix.name + ".en").write_text("\n".join(targets) + "\n")


@pytest.fixture
def toy_translation(tmp_path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    write_pairs(data / "train", 600, seed=0)
    write_pairs(data / "dev", 40, seed=1)
    config = tmp_path / "toy.yaml"
    config.write_text(CONFIG.format(epochs=6, data=data))
    return config


def test_translation_fit_test_predict(toy_translation, tmp_path):
    run = tmp_path / "run"
    common = ["--config", str(toy_translation), "--trainer.default_root_dir", str(run)]
    assert main(["fit", *common]) == 0
    best = run / "checkpoints" / "best.ckpt"
    checkpoint = torch.load(best, weights_only=True)  # plain types only
    assert set(checkpoint["ParallelTextDataModule"]) == {"source_tokenizer", "target_tokenizer"}
    assert (run / "tokenizers" / "source_tokenizer.json").is_file()

    assert main(["test", *common, "--ckpt_path", str(best)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"test/bleu", "test/bleu_greedy", "test/loss"}
    assert metrics["test/bleu"] > 50.0  # learning (the test of learning is in test_seq2seq)

    data = toy_translation.parent / "data"
    predict = [*common, "--data.init_args.predict_file", str(data / "dev.de")]
    assert main(["predict", *predict, "--ckpt_path", str(best)]) == 0
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert [row["index"] for row in rows] == list(range(40))
    references = (data / "dev.en").read_text().splitlines()
    hypotheses = [row["prediction"] for row in rows]
    # test/bleu is beam search: the same as sacreBLEU on the beam-search predictions
    assert sacrebleu.corpus_bleu(hypotheses, [references]).score == pytest.approx(
        metrics["test/bleu"], abs=1e-4
    )


def test_shared_embeddings_need_a_joint_vocabulary(toy_translation, tmp_path, capsys):
    status = main(
        [
            "fit",
            "--config",
            str(toy_translation),
            "--trainer.default_root_dir",
            str(tmp_path / "run"),
            "--data.init_args.joint_vocabulary",
            "false",
        ]
    )
    assert status == 2
    assert "share_embeddings needs one vocabulary" in capsys.readouterr().err
