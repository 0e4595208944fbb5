"""Translation end to end through ``nlptag``: fit, test (BLEU equals sacreBLEU on the predictions),
predict in input order, safe checkpoints, bad configuration."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu
import torch

import nlptag
from nlptag.cli import main
from tests.conftest import REPO

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
    network:
      class_path: nlptag.models.seq2seq.Seq2Seq
      init_args:
        embedding_dim: 32
        embedding_dropout: 0.0
        share_embeddings: true
        encoder:
          class_path: nlptag.models.encoders.RecurrentEncoder
          init_args: {{cell: gru, hidden_size: 32, num_layers: 1, dropout: 0.0}}
        decoder:
          class_path: nlptag.models.seq2seq.RecurrentDecoder
          init_args:
            embedding_dim: 32
            cell: gru
            hidden_size: 64
            attention: {{class_path: nlptag.models.attention.AdditiveAttention}}
            dropout: 0.0
    search:
      class_path: nlptag.models.search.Search
      init_args: {{beam_size: 3}}
    label_smoothing: 0.0
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


@pytest.fixture(scope="module")
def toy_translation(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy_mt")
    data = root / "data"
    data.mkdir()
    write_pairs(data / "train", 600, seed=0)
    write_pairs(data / "dev", 40, seed=1)
    config = root / "toy.yaml"
    config.write_text(CONFIG.format(epochs=6, data=data))
    return config


@pytest.fixture(scope="module")
def trained(toy_translation) -> tuple[list[str], Path]:
    """The toy model trained once: (the CLI's common arguments, best checkpoint)."""
    run = toy_translation.parent / "run"
    common = ["--config", str(toy_translation), "--trainer.default_root_dir", str(run)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NLPTAG_OFFLINE", "1")
        assert main(["fit", *common]) == 0
    return common, run / "checkpoints" / "best.ckpt"


def test_translation_fit_test_predict(toy_translation, trained, capsys):
    common, best = trained
    run = best.parent.parent
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

    # the exported bundle translates exactly like the checkpoint did, from Python and the CLI
    bundle = run / "bundle"
    assert main(["export", str(best), str(bundle)]) == 0
    names = {path.name for path in bundle.iterdir()}
    assert {"config.json", "model.safetensors", "source_tokenizer.json"} <= names
    assert json.loads((bundle / "config.json").read_text())["task"] == "translation"
    sources = (data / "dev.de").read_text().splitlines()
    translator = nlptag.load(bundle)
    assert translator.predict(sources, batch_size=7) == hypotheses
    greedy = translator.predict(sources, beam_size=1)
    assert sacrebleu.corpus_bleu(greedy, [references]).score == pytest.approx(
        metrics["test/bleu_greedy"], abs=1e-4
    )
    output = run / "translations.txt"
    assert main(["translate", str(bundle), str(data / "dev.de"), "-o", str(output)]) == 0
    assert output.read_text().splitlines() == hypotheses
    capsys.readouterr()
    assert main(["evaluate", str(bundle), str(data / "dev")]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(metrics)


def test_attention_heatmap_from_the_command_line(trained, tmp_path, capsys):
    _, best = trained
    result = nlptag.load(best).attention("zwei rot Hund")
    assert result["source_tokens"][-1] == "</s>" and result["output_tokens"][-1] == "</s>"
    weights = result["weights"]
    assert weights.shape == (len(result["output_tokens"]), len(result["source_tokens"]))
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.size(0)))
    picture = tmp_path / "attention.png"
    assert main(["attention", str(best), "zwei rot Hund", "-o", str(picture)]) == 0
    assert picture.read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out.strip() == result["translation"]


def test_translation_bundle_loads_without_unpickling(trained, tmp_path):
    from tests.inference.test_export import SAFE_LOAD

    _, best = trained
    assert main(["export", str(best), str(tmp_path / "bundle")]) == 0
    script = SAFE_LOAD.replace('["ann met bob in paris"])[0]["tags"]', '["eins zwei"])')
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "bundle"), "torch"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("OK")


def test_translation_onnx_export_and_backend_are_refused(trained, tmp_path, capsys):
    from nlptag.errors import NlptagError
    from nlptag.inference.bundle import open_bundle
    from nlptag.inference.predictors import TranslationPredictor

    _, best = trained
    assert main(["export", str(best), str(tmp_path / "bundle"), "--onnx"]) == 2
    assert capsys.readouterr().err == (
        "nlptag: error: --onnx: not available for the translation task\n"
    )
    assert not (tmp_path / "bundle").exists()
    bundle = open_bundle(best)
    with pytest.raises(NlptagError, match="translation models run in torch only"):
        TranslationPredictor(bundle, bundle.build_network(), session=object())


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
