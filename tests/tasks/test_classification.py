import json
import random
from functools import partial
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import nlptag
from data_modules.classification import ClassificationDataModule, collate_classification
from nlptag.cli import main
from nlptag.cli.evaluate import task_module
from nlptag.errors import NlptagError
from nlptag.inference.bundle import open_bundle
from nlptag.inference.checkpoints import load_checkpoint
from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.models.pooling import AttentionPooling, FinalStatePooling, MaxPooling, MeanPooling
from nlptag.tasks.classification import SequenceClassifier

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sentiment" / "sst2.yaml"


def write_toy_tsv(path: Path, size: int, seed: int) -> Path:
    """Texts of 1-8 random words; the label says whether the word ``great`` is among them."""
    generator = random.Random(seed)
    words = [f"w{i}" for i in range(12)]
    lines = ["sentence\tlabel"]
    for i in range(size):
        tokens = generator.choices(words, k=generator.randint(1, 8))
        if i % 2:
            tokens[generator.randrange(len(tokens))] = "great"
        lines.append(f"{' '.join(tokens)}\t{'pos' if 'great' in tokens else 'neg'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def toy_files(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPTAG_CACHE_DIR", str(tmp_path / "cache"))
    return {
        "train_file": str(write_toy_tsv(tmp_path / "train.tsv", 400, seed=0)),
        "validation_file": str(write_toy_tsv(tmp_path / "dev.tsv", 100, seed=1)),
    }


def small_classifier(data: ClassificationDataModule, pooling, **kwargs) -> SequenceClassifier:
    return SequenceClassifier(
        num_words=data.num_words,
        num_chars=data.num_chars,
        label_names=data.label_names,
        embedder=partial(WordEmbedder, word_dim=16, char_features=None, dropout=0.0),
        encoder=partial(RecurrentEncoder, hidden_size=16, num_layers=1, dropout=0.0),
        pooling=pooling,
        dropout=0.0,
        optimizer=partial(torch.optim.Adam, lr=0.02),
        **kwargs,
    )


@pytest.mark.parametrize(
    "pooling",
    [FinalStatePooling, MaxPooling, MeanPooling, AttentionPooling],
    ids=["final_states", "max", "mean", "attention"],
)
def test_learns_whether_a_word_occurs(toy_files, pooling):
    pl.seed_everything(0)
    data = ClassificationDataModule(**toy_files, batch_size=16)
    model = small_classifier(data, pooling)
    trainer = pl.Trainer(
        max_epochs=8,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=data)
    metrics = trainer.validate(model, datamodule=data, verbose=False)[0]
    assert metrics["val/acc"] == 100.0
    assert metrics["val/f1"] == 100.0


def test_loss_uses_label_smoothing_and_class_weights(toy_files):
    data = ClassificationDataModule(**toy_files, batch_size=8)
    data.setup("fit")
    batch = collate_classification(data.encoded_split("validation")[:8])
    torch.manual_seed(0)
    model = small_classifier(data, MaxPooling, label_smoothing=0.1, class_weights=[1.0, 3.0])
    model.eval()
    logits = model(batch)
    assert logits.shape == (8, 2)
    expected = torch.nn.functional.cross_entropy(
        logits, batch.labels, weight=torch.tensor([1.0, 3.0]), label_smoothing=0.1
    )
    torch.testing.assert_close(model._step(batch, "val", model.val_metrics), expected)


def test_predict_step_gives_label_and_probabilities(toy_files):
    data = ClassificationDataModule(**toy_files, batch_size=8)
    data.setup("fit")
    batch = collate_classification(data.encoded_split("validation")[:3])
    model = small_classifier(data, MeanPooling).eval()
    with torch.no_grad():
        predictions = model.predict_step(batch, 0)
    assert [p["index"] for p in predictions] == [0, 1, 2]
    for prediction in predictions:
        probabilities = prediction["probabilities"]
        assert list(probabilities) == ["neg", "pos"]
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert prediction["label"] == max(probabilities, key=probabilities.get)


def test_configuration_errors(toy_files):
    data = ClassificationDataModule(**toy_files)
    with pytest.raises(NlptagError, match="2 labels"):
        small_classifier(data, MaxPooling, class_weights=[1.0])
    with pytest.raises(NlptagError, match="bidirectional"):
        small_classifier(data, partial(FinalStatePooling, bidirectional=False))


def test_shipped_config_trains_validates_and_predicts_through_the_cli(toy_files, tmp_path):
    run = tmp_path / "run"
    files = [f"--data.{name}={path}" for name, path in toy_files.items()]
    overrides = [
        "--data.dataset=null",
        "--data.batch_size=32",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=3",
        f"--trainer.default_root_dir={run}",
    ]
    assert main(["fit", f"--config={CONFIG}", *files, *overrides]) == 0
    best = run / "checkpoints" / "best.ckpt"
    assert best.is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    checkpoint = load_checkpoint(best)  # plain types only: loads with weights_only=True
    assert checkpoint["hyper_parameters"]["label_names"] == ["neg", "pos"]
    assert checkpoint["ClassificationDataModule"]["labels"] == ["neg", "pos"]
    assert isinstance(task_module(open_bundle(best)), SequenceClassifier)
    assert main(["validate", f"--config={CONFIG}", *files, *overrides, f"--ckpt_path={best}"]) == 0
    predict = [f"--data.predict_file={toy_files['validation_file']}", f"--ckpt_path={best}"]
    assert main(["predict", f"--config={CONFIG}", *files, *overrides, *predict]) == 0
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    texts = [
        line.split("\t")[0]
        for line in Path(toy_files["validation_file"]).read_text().splitlines()[1:]
    ]
    assert [row["index"] for row in rows] == list(range(len(texts))) == list(range(100))
    expected = nlptag.load(best).predict(texts, batch_size=7)
    assert [row["prediction"]["label"] for row in rows] == [e["label"] for e in expected]
    for row, prediction in zip(rows, expected):
        assert row["prediction"]["index"] == row["index"]
        assert row["prediction"]["probabilities"] == pytest.approx(
            prediction["probabilities"], abs=1e-6
        )
