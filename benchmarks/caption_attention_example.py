"""The attention picture of the README's captioning section: the toy model of the tests (coloured
shapes, colour-grid features, soft attention) trained for a few seconds, then

    nlptag caption BUNDLE IMAGE --attention benchmarks/results/caption_attention_example.png

(The Flickr8k photos may not be redistributed, so the committed picture is of a generated one.)

    OMP_NUM_THREADS=1 python -m benchmarks.caption_attention_example
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from nlptag.cli import main
from nlptag.inference.export import export
from tests.captioning_fixtures import draw, fit_args, write_shapes

OUT = Path("benchmarks/results/caption_attention_example.png")


def run() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        files = write_shapes(root / "shapes")
        assert main(fit_args(files, root / "run")) == 0
        bundle = export(root / "run" / "checkpoints" / "best.ckpt", root / "bundle")
        image = root / "example.jpg"
        draw(image, "green", "circle", random.Random(7))
        assert main(["caption", str(bundle), str(image), "--attention", str(OUT)]) == 0


if __name__ == "__main__":
    run()
