"""``nlptag caption``: a captioning bundle (or checkpoint) run on image files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nlptag.cli.predict import _output, positive_int
from nlptag.errors import NlptagError


def _attention_paths(target: str, count: int) -> list[Path]:
    """``out.png`` for one image; ``out-1.png``, ``out-2.png``... for several."""
    path = Path(target)
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix or '.png'}") for i in range(1, count + 1)]


def caption_main(argv: list[str]) -> int:
    """caption images with a captioning bundle

    ``nlptag caption BUNDLE IMAGE... [--beam N] [--attention out.png] [--format jsonl]``: one
    caption per image and line, in the order given. Images of any size and format Pillow reads
    are squashed to 224 x 224, as the training photos were."""
    parser = argparse.ArgumentParser(prog="nlptag caption", description=caption_main.__doc__)
    parser.add_argument("bundle", help="a captioning bundle from `nlptag export` (or a .ckpt)")
    parser.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    parser.add_argument("-o", "--output", help="output file (default: stdout)")
    parser.add_argument("--beam", type=positive_int, default=None, help="beam size (1: greedy)")
    parser.add_argument(
        "--sample", action="store_true", help="sample captions instead of searching"
    )
    parser.add_argument("--temperature", type=float, default=None, help="sampling temperature")
    parser.add_argument("--top-k", type=positive_int, default=None, help="sample among the k best")
    parser.add_argument("--seed", type=int, default=None, help="seed for reproducible samples")
    parser.add_argument(
        "--attention",
        metavar="PNG",
        help="write each image with its words' attention overlaid (out.png; out-N.png for "
        "several images); attention decoders only",
    )
    parser.add_argument("--format", choices=["text", "jsonl"], default="text", help="output")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="images per batch")
    args = parser.parse_intermixed_args(argv)
    from nlptag.inference import CaptionPredictor, load

    predictor = load(args.bundle)
    if not isinstance(predictor, CaptionPredictor):
        raise NlptagError(f"{args.bundle} is a {predictor.task} model, not a captioning model")
    search = predictor.search
    if args.temperature is not None:
        if args.temperature < 0:
            raise NlptagError(f"--temperature must be >= 0, got {args.temperature}")
        search.temperature = args.temperature
    if args.top_k is not None:
        search.top_k = args.top_k
    if args.seed is not None:
        search.seed = args.seed
    strategy = "sample" if args.sample else None
    if args.attention is not None:
        from nlptag.models.captioning import SoftAttentionDecoder

        if not isinstance(predictor.network.decoder, SoftAttentionDecoder):
            raise NlptagError("--attention: the model's decoder has no attention")
        if not Path(args.attention).resolve().parent.is_dir():
            raise NlptagError(f"--attention {args.attention}: the directory does not exist")
    captions = predictor.predict(
        args.images, batch_size=args.batch_size, beam_size=args.beam, strategy=strategy
    )
    pictures = []
    if args.attention is not None:
        from nlptag.inference.plots import save_caption_attention

        for image, path in zip(args.images, _attention_paths(args.attention, len(args.images))):
            result = predictor.attention(image, args.beam)
            pictures.append(
                str(
                    save_caption_attention(
                        result["pixels"],
                        result["words"],
                        result["weights"],
                        path,
                        title=result["caption"],
                    )
                )
            )
    with _output(args.output) as out:
        for image, caption in zip(args.images, captions):
            if args.format == "jsonl":
                out.write(json.dumps({"image": image, "caption": caption}) + "\n")
            else:
                out.write(caption + "\n")
    for path in pictures:
        print(f"attention written to {path}", file=sys.stderr)
    return 0
