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
        "--data.min_count=1",
        "--data.batch_size=8",
    ]
