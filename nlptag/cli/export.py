"""``nlptag export``: a checkpoint (or a bundle) written as a bundle directory."""

from __future__ import annotations

import sys

from nlptag.cli.arguments import ToolArgumentParser


def export_main(argv: list[str]) -> int:
    """write a checkpoint as a bundle (safetensors + JSON)

    ``nlptag export CKPT OUT [--onnx] [--quantize int8] [--overwrite]``."""
    parser = ToolArgumentParser(
        prog="nlptag export",
        description="Write a self-contained bundle directory (model.safetensors, config.json, "
        "vocabularies and tokenizers as JSON; nothing pickled) from a checkpoint.",
    )
    parser.add_argument("checkpoint", help="a .ckpt written by `nlptag fit` (or a bundle)")
    parser.add_argument("out_dir", help="the bundle directory to write")
    parser.add_argument(
        "--onnx", action="store_true", help="also write model.onnx (taggers, classifiers)"
    )
    parser.add_argument(
        "--quantize",
        choices=["int8"],
        help="run the bundle's LSTM/GRU layers in int8 with fixed activation ranges (taggers, "
        "classifiers): the same predictions in any batch",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace OUT_DIR if it exists and is not empty"
    )
    args = parser.parse_intermixed_args(argv)
    from nlptag.inference.export import export

    out = export(args.checkpoint, args.out_dir, args.onnx, args.quantize, args.overwrite)
    files = ", ".join(sorted(path.name for path in out.iterdir()))
    print(f"bundle written to {out} ({files})", file=sys.stderr)
    return 0
