"""Inference needs torch alone: importing nlptag, loading a bundle of every task (captioning
included) and predicting, and ``nlptag tag BUNDLE --text ...`` (``nlptag caption``: see
``test_captioning.py``) leave Lightning, torchmetrics, datasets and sacreBLEU out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data_modules.parallel import train_tokenizer
from nlptag.inference.build import build
from nlptag.inference.bundle import Bundle, write_bundle
from nlptag.inference.export import export
from tests.conftest import REPO

HEAVY = ("pytorch_lightning", "lightning_fabric", "torchmetrics", "datasets", "sacrebleu")
INPUTS = {
    "tagging": ["The dog runs ."],
    "ner": ["ann met bob in paris"],
    "classification": ["w1 great w2"],
    "language_model": ["ab"],
    "translation": ["ein haus"],
}
SEQ2SEQ = {
    "class_path": "nlptag.models.seq2seq.Seq2Seq",
    "init_args": {
        "source_vocab_size": 0,  # set from the tokenizer below
        "target_vocab_size": 0,
        "embedding_dim": 8,
        "encoder": {
            "class_path": "nlptag.models.encoders.RecurrentEncoder",
            "init_args": {"cell": "gru", "hidden_size": 8, "num_layers": 1},
        },
        "decoder": {
            "class_path": "nlptag.models.seq2seq.RecurrentDecoder",
            "init_args": {
                "embedding_dim": 8,
                "hidden_size": 8,
                "attention": {"class_path": "nlptag.models.attention.GeneralAttention"},
            },
        },
    },
}


def translation_bundle(out: Path) -> Path:
    """A tiny untrained translation bundle written without Lightning (a network from its spec)."""
    tokenizer = train_tokenizer(["ein haus", "a house", "ein baum", "a tree"] * 5, "bpe", 40)
    spec = json.loads(json.dumps(SEQ2SEQ))
    size = tokenizer.get_vocab_size()
    spec["init_args"].update(source_vocab_size=size, target_vocab_size=size)
    torch.manual_seed(0)
    network = build(spec, "test")
    search = {"class_path": "nlptag.models.search.Search", "init_args": {"beam_size": 2}}
    json_text = tokenizer.to_str()
    bundle = Bundle(
        task="translation",
        network=spec,
        weights=network.state_dict(),
        options={"search": search},
        tokenizers={"source_tokenizer": json_text, "target_tokenizer": json_text},
    )
    write_bundle(bundle, out)
    return out


def caption_bundle(out: Path) -> Path:
    """A tiny untrained captioning bundle (colour-grid features) written without Lightning, and
    a photo for it (``out/photo.png``)."""
    from PIL import Image

    spec = {
        "class_path": "nlptag.models.captioning.CaptionNetwork",
        "init_args": {
            "vocab_size": 6,
            "feature_size": 3,
            "decoder": {
                "class_path": "nlptag.models.captioning.SoftAttentionDecoder",
                "init_args": {"embedding_dim": 4, "hidden_size": 8},
            },
        },
    }
    torch.manual_seed(0)
    search = {
        "class_path": "nlptag.models.caption_search.CaptionSearch",
        "init_args": {"beam_size": 2, "max_length": 5},
    }
    bundle = Bundle(
        task="captioning",
        network=spec,
        weights=build(spec, "test").state_dict(),
        options={"search": search},
        data={"encoder": "colour-grid"},
        vocabularies={"words": ["<pad>", "<unk>", "<s>", "</s>", "a", "dog"]},
    )
    write_bundle(bundle, out)
    Image.new("RGB", (300, 200), (200, 30, 30)).save(out.parent / "photo.png")
    INPUTS["captioning"] = [str(out.parent / "photo.png")]
    return out


@pytest.fixture(scope="module")
def every_bundle(tiny_checkpoints, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("torch_only")
    made = {
        task: export(tiny_checkpoints(task)["checkpoint"], root / task)
        for task in ("tagging", "ner", "classification", "language_model")
    }
    made["translation"] = translation_bundle(root / "translation")
    made["captioning"] = caption_bundle(root / "captioning" / "bundle")
    return made


def test_import_load_and_predict_leave_the_training_stack_out(every_bundle):
    script = f"""
import json, sys
import nlptag
assert not [m for m in {HEAVY!r} if m in sys.modules], "import nlptag"
bundles, inputs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for task, path in bundles.items():
    predictor = nlptag.load(path)
    assert predictor.task == task, (predictor.task, task)
    outputs = predictor.predict(inputs[task])
    assert len(outputs) == len(inputs[task]) and outputs[0] is not None
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""
    paths = {task: str(path) for task, path in every_bundle.items()}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(paths), json.dumps(INPUTS)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_nlptag_tag_leaves_the_training_stack_out(every_bundle):
    script = f"""
import sys
from nlptag.cli import main
status = main(["tag", sys.argv[1], "--text", "The dog runs ."])
assert status == 0
print("HEAVY", sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(every_bundle["tagging"])],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines[:4]] == ["The", "dog", "runs", "."]
    assert lines[-1] == "HEAVY []"
