"""The captioning bundle: export, ``nlptag.load(bundle).predict`` on paths and PIL images of any
size, ``nlptag caption`` (text, JSON lines, attention picture), bad images, and the torch-only
promise (no Lightning, torchmetrics, datasets or sacreBLEU in the process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nlptag.cli import main
from nlptag.inference.export import export
from tests.captioning_fixtures import trained_shapes
from tests.conftest import REPO

HEAVY = ("pytorch_lightning", "lightning_fabric", "torchmetrics", "datasets", "sacrebleu")


@pytest.fixture(scope="module")
def shapes_bundle(tmp_path_factory):
    files, run = trained_shapes(tmp_path_factory)
    bundle = export(run / "checkpoints" / "best.ckpt", tmp_path_factory.mktemp("b") / "bundle")
    tests = sorted(p for p in files["images"].iterdir() if p.name.startswith("test_"))
    return {"bundle": bundle, "images": tests, "truth": [files["truth"][p.name] for p in tests]}


def test_bundle_is_plain_files_and_captions_paths_and_pil_images(shapes_bundle):
    from PIL import Image

    import nlptag

    bundle = shapes_bundle["bundle"]
    assert sorted(p.name for p in bundle.iterdir()) == [
        "config.json",
        "model.safetensors",
        "vocabularies.json",
    ]
    config = json.loads((bundle / "config.json").read_text())
    assert config["task"] == "captioning" and config["data"]["encoder"] == "colour-grid"
    predictor = nlptag.load(bundle)
    first, second = shapes_bundle["images"][:2]
    # a PIL image of another size and mode is squashed to 224 x 224 like the training photos
    bigger = Image.open(second).convert("RGBA").resize((500, 375))
    assert predictor.predict([first, bigger]) == shapes_bundle["truth"][:2]
    assert predictor.predict([first], beam_size=1) == shapes_bundle["truth"][:1]
    sampled = predictor.predict([first], strategy="sample")
    assert isinstance(sampled[0], str)


def test_nlptag_caption_text_jsonl_and_attention(shapes_bundle, tmp_path, capsys):
    bundle, images = str(shapes_bundle["bundle"]), [str(p) for p in shapes_bundle["images"]]
    assert main(["caption", bundle, *images[:3], "--beam", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == shapes_bundle["truth"][:3]
    assert main(["caption", bundle, images[0], "--format", "jsonl"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "image": images[0],
        "caption": shapes_bundle["truth"][0],
    }
    picture = tmp_path / "attention.png"
    assert main(["caption", bundle, images[0], "--attention", str(picture)]) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["caption", bundle, *images[:2], "--attention", str(picture)]) == 0
    assert (tmp_path / "attention-1.png").is_file() and (tmp_path / "attention-2.png").is_file()
    out = tmp_path / "captions.txt"
    assert main(["caption", bundle, images[0], "--sample", "--seed", "1", "-o", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 1


@pytest.mark.parametrize("kind", ["missing", "truncated", "not_an_image", "empty"])
def test_bad_images_are_one_clear_line(shapes_bundle, tmp_path, capsys, kind):
    bad = tmp_path / "bad.jpg"
    good = shapes_bundle["images"][0]
    if kind == "truncated":
        data = good.read_bytes()
        bad.write_bytes(data[: len(data) // 3])
    elif kind == "not_an_image":
        bad.write_text("hello, I am text\n")
    elif kind == "empty":
        bad.write_bytes(b"")
    out = tmp_path / "out.txt"
    status = main(["caption", str(shapes_bundle["bundle"]), str(good), str(bad), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and str(bad) in err[0] and "Traceback" not in err[0], err
    assert not out.exists()  # nothing half-written


def test_caption_load_predict_and_cli_leave_the_training_stack_out(shapes_bundle):
    script = f"""
import sys
import nlptag
predictor = nlptag.load(sys.argv[1])
assert predictor.predict([sys.argv[2]]) == [sys.argv[3]]
from nlptag.cli import main
assert main(["caption", sys.argv[1], sys.argv[2]]) == 0
print("HEAVY", sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    image, truth = shapes_bundle["images"][0], shapes_bundle["truth"][0]
    done = subprocess.run(
        [sys.executable, "-c", script, str(shapes_bundle["bundle"]), str(image), truth],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-2] == truth and lines[-1] == "HEAVY []"
