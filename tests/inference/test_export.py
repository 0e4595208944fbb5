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
from nlptag.inference.int8 import FixedRangeInt8RNN
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
    return predictor.encode(tokens)


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


def test_onnx_export_is_refused_for_the_language_model_in_one_line(bundles, tmp_path, capsys):
    checkpoint, bundle = bundles["language_model"]
    with pytest.raises(NlptagError, match="^--onnx: not available for the language_model task$"):
        export(checkpoint, tmp_path / "lm", onnx=True)
    assert not (tmp_path / "lm").exists()
    assert main(["export", str(checkpoint), str(tmp_path / "cli"), "--onnx"]) == 2
    err = capsys.readouterr().err
    assert err == "nlptag: error: --onnx: not available for the language_model task\n"
    assert not (tmp_path / "cli").exists()
    with pytest.raises(NlptagError, match="has no model.onnx; export it with --onnx"):
        nlptag.load(bundle, backend="onnx")


@pytest.mark.parametrize("task", ["tagging", "ner", "classification"])
def test_a_bundle_exported_without_onnx_refuses_the_onnx_backend(bundles, tmp_path, task):
    checkpoint, _ = bundles[task]
    plain = export(checkpoint, tmp_path / "plain")
    assert not (plain / "model.onnx").exists()
    assert json.loads((plain / "config.json").read_text())["onnx"] is None
    with pytest.raises(NlptagError, match=f"^{plain} has no model.onnx; export it with --onnx$"):
        nlptag.load(plain, backend="onnx")


def test_onnx_with_int8_is_refused_in_one_line(bundles, tmp_path, capsys):
    checkpoint, _ = bundles["classification"]
    out = tmp_path / "int8_onnx"
    status = main(["export", str(checkpoint), str(out), "--onnx", "--quantize", "int8"])
    err = capsys.readouterr().err
    assert status == 2 and not out.exists()
    assert err.startswith("nlptag: error: --onnx with --quantize int8: ") and err.count("\n") == 1


def test_int8_is_refused_in_one_line_for_a_network_without_input_ranges(bundles, tmp_path, capsys):
    checkpoint, _ = bundles["language_model"]
    out = tmp_path / "lm_int8"
    status = main(["export", str(checkpoint), str(out), "--quantize", "int8"])
    err = capsys.readouterr().err
    assert status == 2 and not out.exists()
    assert err.startswith(f"nlptag: error: {checkpoint}: CharRNN does not run in int8: ")
    assert err.endswith("use a float32 bundle\n") and err.count("\n") == 1


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
    for rnn in (predictor.network.encoder.rnn, predictor.network.embedder.char_features.lstm):
        assert isinstance(rnn, FixedRangeInt8RNN)  # every layer and direction an int8 LSTM
        assert all(isinstance(d, quantized.LSTM) for layer in rnn.layers for d in layer)
    network = predictor.network
    char_table = network.embedder.char_features.embedding.weight
    assert network.embedder.char_features.lstm.bounds == [char_table.abs().max().item()]
    encoder = network.encoder.rnn
    assert len(encoder.layers) == len(encoder.bounds) and encoder.bounds[1:] == [1.0] * (
        len(encoder.bounds) - 1
    )
    assert type(predictor.network.head.projection) is torch.nn.Linear  # the small head: float
    padded = nlptag.load(bundle, encoder_run="padded")  # int8 runs padded too
    assert padded.network.encoder.inference_run == "padded"
    assert padded.network.embedder.char_features.inference_run == "padded"
    for size in (1, 32):
        assert [r["tags"] for r in padded.predict(INPUTS["tagging"], batch_size=size)] == [
            r["tags"] for r in predictor.predict(INPUTS["tagging"], batch_size=1)
        ]
    # the tags of a sentence do not depend on the sentences batched with it
    one = predictor.predict(INPUTS["tagging"], batch_size=1)
    assert [r["tags"] for r in predictor.predict(INPUTS["tagging"], batch_size=32)] == [
        r["tags"] for r in one
    ]
    assert [r["tokens"] for r in one] == [
        s.split() if isinstance(s, str) else s for s in INPUTS["tagging"]
    ]


@pytest.fixture(scope="module")
def demo_tagger(tmp_path_factory):
    """The demo tagger trained to the end of configs/demo.yaml (val/acc 90.41: 66 of the 73
    dev tokens), its float checkpoint and its int8 bundle; about 10 s."""
    from tests.conftest import _fit

    run = tmp_path_factory.mktemp("demo_int8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NLPTAG_CACHE_DIR", str(run / "cache"))
        _fit("configs/demo.yaml", run, "--trainer.enable_progress_bar=false")
    best = run / "checkpoints" / "best.ckpt"
    return best, export(best, run / "int8", quantize="int8")


def test_int8_keeps_the_accuracy_of_a_trained_tagger(demo_tagger):
    """Int8 against float on the demo tagger trained to its end (not slow: the only check that
    quantization keeps a model's accuracy). Measured: float 100% train / 66 of 73 dev tokens,
    int8 100% / 65 of 73, one of the 418 tokens tagged differently."""
    from nlptag.text.readers import read_conllu

    checkpoint, bundle = demo_tagger
    demo = REPO / "nlptag" / "resources" / "demo"
    float_tagger, int8_tagger = nlptag.load(checkpoint), nlptag.load(bundle)
    correct, agree, total = {}, 0, 0
    for split in ("train", "dev"):
        sentences = list(read_conllu(demo / f"{split}.conllu"))
        tokens = [s["tokens"] for s in sentences]
        float_tags = [r["tags"] for r in float_tagger.predict(tokens)]
        int8_tags = [r["tags"] for r in int8_tagger.predict(tokens, batch_size=32)]
        assert [r["tags"] for r in int8_tagger.predict(tokens, batch_size=1)] == int8_tags
        gold = [s["tags"] for s in sentences]
        for name, tags in (("float", float_tags), ("int8", int8_tags)):
            correct[split, name] = sum(
                p == g for row, gold_row in zip(tags, gold) for p, g in zip(row, gold_row)
            )
        agree += sum(a == b for f, q in zip(float_tags, int8_tags) for a, b in zip(f, q))
        total += sum(len(t) for t in tokens)
    assert total == 418
    best_score = torch.load(checkpoint, weights_only=True)["callbacks"]
    (state,) = [v for k, v in best_score.items() if "'monitor': 'val/acc'" in k]
    assert 100 * correct["dev", "float"] / 73 == pytest.approx(float(state["best_model_score"]))
    assert correct["dev", "float"] >= 64  # the config's "about 90" (87.7%)
    assert correct["train", "float"] == correct["train", "int8"] == 345  # fits its training set
    # int8 rounds each weight to 1/254 of its tensor's range: at most 2 of 73 dev tokens
    # (2.7 points) may be lost, and at least 98% of all tokens keep their float tag
    assert correct["dev", "float"] - correct["dev", "int8"] <= 2
    assert agree >= 0.98 * total


def test_float_confidences_do_not_depend_on_the_batch(demo_tagger):
    from nlptag.text.readers import read_conllu

    checkpoint, _ = demo_tagger
    tokens = [s["tokens"] for s in read_conllu(REPO / "nlptag/resources/demo/dev.conllu")]
    predictor = nlptag.load(checkpoint)
    one, many = predictor.predict(tokens, batch_size=1), predictor.predict(tokens, batch_size=32)
    assert [r["tags"] for r in one] == [r["tags"] for r in many]
    for a, b in zip(one, many):
        np.testing.assert_allclose(a["confidences"], b["confidences"], atol=1e-6)


def test_int8_confidences_do_not_depend_on_the_batch(demo_tagger):
    from nlptag.text.readers import read_conllu

    _, bundle = demo_tagger
    tokens = [s["tokens"] for s in read_conllu(REPO / "nlptag/resources/demo/dev.conllu")]
    predictor = nlptag.load(bundle)
    one = predictor.predict(tokens, batch_size=1)
    for batch_size in (7, 32):  # with fixed activation ranges: the same numbers in any batch
        many = predictor.predict(tokens, batch_size=batch_size)
        assert [r["tags"] for r in one] == [r["tags"] for r in many]
        for a, b in zip(one, many):
            np.testing.assert_array_equal(a["confidences"], b["confidences"])


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
