"""Generated photos with known captions: solid shapes of three colours on white, jittered, that a
small model must learn to caption exactly. Shared by the captioning tests."""

from __future__ import annotations

import random
from pathlib import Path

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 30), "blue": (30, 60, 220)}
SHAPES = ("square", "circle")


def draw(path: Path, colour: str, shape: str, jitter: random.Random, size: int = 224) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (255, 255, 255))
    canvas = ImageDraw.Draw(image)
    dx, dy = jitter.randint(-8, 8), jitter.randint(-8, 8)
    box = (40 + dx, 40 + dy, 184 + dx, 184 + dy)
    (canvas.rectangle if shape == "square" else canvas.ellipse)(box, fill=COLOURS[colour])
    image.save(path, quality=95)


def write_shapes(root: Path, per_class: dict[str, int] | None = None, seed: int = 0) -> dict:
    """``root/Images/*.jpg``, ``root/captions.txt`` (two captions per photo, differing only in
    case and punctuation) and image lists ``root/{train,validation,test}.txt``; returns their
    paths and the caption of every image."""
    per_class = per_class or {"train": 4, "validation": 1, "test": 1}
    jitter = random.Random(seed)
    images = root / "Images"
    images.mkdir(parents=True, exist_ok=True)
    lines, truth, lists = [], {}, {}
    for split, count in per_class.items():
        names = []
        for colour in COLOURS:
            for shape in SHAPES:
                for k in range(count):
                    name = f"{split}_{colour}_{shape}_{k}.jpg"
                    draw(images / name, colour, shape, jitter)
                    truth[name] = f"a {colour} {shape} on white"
                    lines += [
                        f"{name}#0\tA {colour} {shape} on white .",
                        f"{name}#1\ta {colour} {shape} on white",
                    ]
                    names.append(name)
        lists[split] = root / f"{split}.txt"
        lists[split].write_text("\n".join(names) + "\n")
    captions = root / "captions.txt"
    captions.write_text("\n".join(lines) + "\n")
    return {"captions": captions, "images": images, "lists": lists, "truth": truth}


def data_args(files: dict, encoder: str = "colour-grid") -> list[str]:
    """``nlptag fit`` arguments selecting the fixture as data."""
    lists = files["lists"]
    return [
        "--data=data_modules.CaptionDataModule",
        f"--data.captions_file={files['captions']}",
        f"--data.image_dir={files['images']}",
        f"--data.train_images={lists['train']}",
        f"--data.validation_images={lists['validation']}",
        f"--data.test_images={lists['test']}",
        f"--data.encoder={encoder}",
        f"--data.feature_cache_dir={files['captions'].parent / 'features'}",
        "--data.min_count=1",
        "--data.batch_size=8",
    ]


DECODERS = {
    "attention": "nlptag.models.captioning.SoftAttentionDecoder",
    "show_and_tell": "nlptag.models.captioning.ShowAndTellDecoder",
    "every_step": "nlptag.models.captioning.ImageEveryStepDecoder",
}


def fit_args(files, root, decoder: str = "attention", cell: str = "lstm", epochs: int = 40):
    """``nlptag fit`` arguments of a small model on the shapes (about 10 s on one thread)."""
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


_TRAINED: dict[str, tuple[dict, Path]] = {}


def trained_shapes(tmp_path_factory) -> tuple[dict, Path]:
    """The shapes and the run directory of the attention model trained on them, once per test
    session (``<run>/checkpoints/best.ckpt``)."""
    if "attention" not in _TRAINED:
        from nlptag.cli import main

        files = write_shapes(tmp_path_factory.mktemp("shapes"))
        root = tmp_path_factory.mktemp("caption_run")
        assert main(fit_args(files, root)) == 0
        _TRAINED["attention"] = (files, root)
    return _TRAINED["attention"]
