"""Bundles: plain files, predictions equal to the checkpoint's, ONNX parity, int8, safety."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import nlptag
from nlptag.cli import main
from nlptag.cli.evaluate import task_module
from nlptag.errors import NlptagError
from nlptag.inference.bundle import open_bundle
from nlptag.inference.checkpoints import load_checkpoint
from nlptag.inference.export import export
from nlptag.text.encoding import collate_classification, collate_tagging
from tests.conftest import REPO

INPUTS = {
    "tagging": ["The dog runs .", ["A", "zebra", "sleeps", "quietly", "today", "."], ["Go"]],
    "ner": ["ann met bob in paris", ["rome"], "the unknownword saw ann today in rome"],
    "classification": ["w1 great w2", "w3 w4", "great", "w1 w1 w2 zzz w3"],
}


@pytest.fixture(scope="module")
def bundles(tiny_checkpoints, tmp_path_factory):
    """task -> (checkpoint, bundle directory with model.onnx)."""
    root = tmp_path_factory.mktemp("bundles")
    made = {}
    for task in ("tagging", "ner", "classification", "language_model"):
        checkpoint = tiny_checkpoints(task)["checkpoint"]
        onnx = task != "language_model"
        made[task] = checkpoint, export(checkpoint, root / task, onnx=onnx)
    return made


@pytest.mark.parametrize("task", ["tagging", "ner", "classification", "language_model"])
def test_bundle_is_plain_files_and_predicts_like_the_checkpoint(bundles, task):
    checkpoint, bundle = bundles[task]
    names = {path.name for path in bundle.iterdir()}
    assert {"config.json", "model.safetensors", "vocabularies.json"} <= names
    assert not any(name.endswith((".pt", ".ckpt", ".pkl", ".bin")) for name in names)
    config = json.loads((bundle / "config.json").read_text())
    assert config["task"] == task and "optimizer" not in config["model"]
    state = load_checkpoint(checkpoint)
    vocabularies = json.loads((bundle / "vocabularies.json").read_text())
    data_class = config["data"]["_class_path"].rsplit(".", 1)[-1]
    assert vocabularies == state[data_class]
    predictor = nlptag.load(bundle)
    assert predictor.task == task
    if task == "language_model":
        sample = predictor.predict(["All", "Sp"], length=30, seed=3)
        assert sample == nlptag.load(checkpoint).predict(["All", "Sp"], length=30, seed=3)
        assert [len(text) for text in sample] == [30, 30]
        return
    assert predictor.predict(INPUTS[task]) == nlptag.load(checkpoint).predict(INPUTS[task])


@pytest.mark.parametrize("task", ["tagging", "ner"])
def test_tag_predictions_equal_the_task_modules_predict_step(bundles, task):
    checkpoint, bundle = bundles[task]
    predictor = nlptag.load(bundle)
    module = task_module(open_bundle(checkpoint))
    sentences = [s.split() if isinstance(s, str) else s for s in INPUTS[task]]
    batch = collate_tagging([predictor_encode(predictor, s) for s in sentences])
    with torch.inference_mode():
        expected = module.predict_step(batch, 0)
    results = predictor.predict(sentences, batch_size=2)
    if task == "tagging":
        assert [r["tags"] for r in results] == expected
    else:
        assert [r["tags"] for r in results] == [e["tags"] for e in expected]
        assert [
            [{k: x[k] for k in ("type", "start", "end")} for x in r["entities"]] for r in results
        ] == [
            [{k: x[k] for k in ("type", "start", "end")} for x in e["entities"]] for e in expected
        ]


def predictor_encode(predictor, tokens):
    from nlptag.text.encoding import encode_sentence

    return encode_sentence(
        tokens,
        predictor.words,
        predictor.chars,
        predictor.max_word_length,
        lowercase=predictor.lowercase,
        digits_to_zero=predictor.digits_to_zero,
    )


@pytest.mark.parametrize("task", ["tagging", "ner", "classification"])
def test_onnx_scores_match_torch_within_1e_5(bundles, task):
    _, bundle = bundles[task]
    eager, onnx = nlptag.load(bundle), nlptag.load(bundle, backend="onnx")
    inputs = [s.split() if isinstance(s, str) else s for s in INPUTS[task]]
    for size in (1, 2, len(inputs)):  # dynamic batch size and length
        chunk = inputs[:size]
        if task == "classification":
            encoded = [eager_encode_text(eager, tokens) for tokens in chunk]
            batch = collate_classification(encoded)
        else:
            batch = collate_tagging([predictor_encode(eager, tokens) for tokens in chunk])
        with torch.inference_mode():
            expected = eager.run(batch.words, batch.chars, batch.lengths).numpy()
        got = onnx.run(batch.words, batch.chars, batch.lengths).numpy()
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    eager_out, onnx_out = eager.predict(INPUTS[task]), onnx.predict(INPUTS[task])
    key = "label" if task == "classification" else "tags"
    assert [r[key] for r in onnx_out] == [r[key] for r in eager_out]


def eager_encode_text(predictor, tokens):
    from nlptag.text.encoding import encode_text

    return encode_text(
        tokens, predictor.words, predictor.chars, predictor.max_length, predictor.max_word_length
    )


def test_int8_bundle_records_and_reapplies_quantization(bundles, tmp_path):
    checkpoint, _ = bundles["tagging"]
    bundle = export(checkpoint, tmp_path / "int8", quantize="int8")
    assert json.loads((bundle / "config.json").read_text())["quantization"] == "int8"
    predictor = nlptag.load(bundle)
    quantized = torch.ao.nn.quantized.dynamic
    assert isinstance(predictor.network.encoder.rnn, quantized.LSTM)
    assert isinstance(predictor.network.embedder.char_features.lstm, quantized.LSTM)
    assert isinstance(predictor.network.head.projection, quantized.Linear)
    results = predictor.predict(INPUTS["tagging"])
    float_results = nlptag.load(checkpoint).predict(INPUTS["tagging"])
    assert [len(r["tags"]) for r in results] == [len(r["tags"]) for r in float_results]
    agree = sum(
        a == b for r, f in zip(results, float_results) for a, b in zip(r["tags"], f["tags"])
    )
    assert agree >= 0.8 * sum(len(r["tags"]) for r in results)


SAFE_LOAD = """
import pickle, sys, torch
def refuse(*args, **kwargs):
    raise AssertionError("unpickling attempted")
class RefusingUnpickler(pickle.Unpickler):
    load = refuse
pickle.load = pickle.loads = torch.load = refuse
pickle.Unpickler = pickle._Unpickler = RefusingUnpickler
import nlptag
predictor = nlptag.load(sys.argv[1], backend=sys.argv[2])
print(predictor.predict(["ann met bob in paris"])[0]["tags"])
assert "datasets" not in sys.modules, "datasets was imported"
print("OK")
"""


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_loading_a_bundle_never_unpickles_nor_imports_datasets(bundles, backend):
    _, bundle = bundles["ner"]
    result = subprocess.run(
        [sys.executable, "-c", SAFE_LOAD, str(bundle), backend],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("OK")


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_carrying_a_malicious_pickle_is_refused(bundles, tmp_path, capsys):
    checkpoint, _ = bundles["tagging"]
    state = load_checkpoint(checkpoint)
    marker = tmp_path / "pwned"
    state["callbacks"] = Payload(marker)
    evil = tmp_path / "evil.ckpt"
    torch.save(state, evil, pickle_module=pickle)
    assert main(["export", str(evil), str(tmp_path / "out")]) == 2
    assert "cannot be loaded safely" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("vocabularies.json", "delete", "vocabularies.json is missing"),
        ("model.safetensors", "flip", "model.safetensors is corrupt"),
        ("model.safetensors", "delete", "model.safetensors is missing"),
        ("config.json", "truncate", "config.json:3: corrupt JSON"),
        ("config.json", "delete", "config.json is missing"),
    ],
)
def test_a_missing_or_corrupt_file_is_named(bundles, tmp_path, capsys, name, damage, message):
    _, bundle = bundles["classification"]
    copy = tmp_path / "bundle"
    copy.mkdir()
    for path in bundle.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    target = copy / name
    if damage == "delete":
        target.unlink()
    elif damage == "flip":
        data = bytearray(target.read_bytes())
        data[-5] ^= 0xFF
        target.write_bytes(bytes(data))
    else:
        target.write_text(target.read_text()[:50])
    with pytest.raises(NlptagError, match=message):
        nlptag.load(copy)
    assert main(["classify", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nlptag: error: ") and message in err and err.count("\n") == 1


def test_untrusted_class_paths_in_a_bundle_are_refused(bundles, tmp_path):
    _, bundle = bundles["classification"]
    copy = tmp_path / "bundle"
    copy.mkdir()
    for path in bundle.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    config["model"]["pooling"] = {"class_path": "os.system"}
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(NlptagError, match="untrusted class path 'os.system'"):
        nlptag.load(copy)
