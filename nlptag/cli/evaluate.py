"""``nlptag evaluate`` and ``nlptag conlleval``: scores of a bundle on a labelled file, and of a
prediction file as the CoNLL script reports them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from nlptag.cli.arguments import ToolArgumentParser
from nlptag.cli.predict import read_input_lines
from nlptag.errors import NlptagError
from nlptag.metrics.conlleval import count_chunks, read_pairs, report


def task_module(bundle: Any):
    """The bundle's task module (a LightningModule, for a test loop) with the network's weights:
    rebuilt from the recorded hyperparameters, whose class paths the bundle reader checked."""
    from pytorch_lightning import LightningModule
    from pytorch_lightning.cli import instantiate_module

    from nlptag.inference.int8 import quantize_int8

    try:
        module = instantiate_module(LightningModule, dict(bundle.model))
        module.network.load_state_dict(bundle.weights)
        if bundle.quantization == "int8":
            module.network = quantize_int8(module.network, bundle.source)
    except Exception as error:  # noqa: BLE001 - jsonargparse and torch report in many ways
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise NlptagError(
            f"{bundle.source}: cannot rebuild the task module ({first_line}); re-export the "
            "bundle from its checkpoint with `nlptag export`"
        ) from None
    return module.eval()


def evaluate(bundle_path: str | Path, file: str | Path) -> dict[str, float]:
    """The task's test metrics on a labelled file, computed by the task module's own
    ``test_step`` in a Lightning test loop fed by the bundle's data module (rebuilt from its
    recorded hyperparameters and vocabularies): the numbers ``nlptag test`` gives."""
    import logging

    from pytorch_lightning import LightningDataModule, Trainer
    from pytorch_lightning.cli import instantiate_module

    from nlptag.inference.bundle import open_bundle

    bundle = open_bundle(bundle_path)  # class paths checked against the allow-list
    data = dict(bundle.data)
    # translation reads FILE.<source> and FILE.<target> (FILE is a prefix); its data module
    # names the files it cannot find
    if "source_language" not in data and not Path(file).is_file():
        raise NlptagError(f"{file} does not exist or is not a file")
    if "bptt_steps" in data:  # a language model reads one text: it stands in for every split
        data.update(dataset=None, train_file=str(file), validation_file=str(file))
    data["test_file"] = str(file)
    datamodule = instantiate_module(LightningDataModule, data)
    datamodule.load_state_dict({**bundle.vocabularies, **bundle.tokenizers, **bundle.data_state})
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.test(task_module(bundle), datamodule=datamodule, verbose=False)
    return {
        key: float(value)
        for key, value in trainer.callback_metrics.items()
        if key.startswith("test/")
    }


def evaluate_main(argv: list[str]) -> int:
    """a bundle's test metrics on a file, as JSON

    ``nlptag evaluate BUNDLE FILE``: the task's metrics on a labelled file (the format the
    model was trained on), as JSON on stdout, computed by the same code as ``nlptag test``."""
    parser = ToolArgumentParser(prog="nlptag evaluate", description=evaluate_main.__doc__)
    parser.add_argument("bundle", help="a bundle directory from `nlptag export` (or a .ckpt)")
    parser.add_argument("file", help="a labelled file")
    args = parser.parse_args(argv)
    metrics = evaluate(args.bundle, args.file)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


def conlleval_main(argv: list[str]) -> int:
    """score a CoNLL prediction file like conlleval

    ``nlptag conlleval [-d DELIM] [-o OTAG] [-r] [FILE]``; returns the exit status."""
    parser = ToolArgumentParser(
        prog="nlptag conlleval",
        description="Chunk precision, recall and FB1 of 'token ... gold predicted' lines, "
        "exactly as the CoNLL conlleval script reports them.",
    )
    parser.add_argument("file", nargs="?", help="input file (default: standard input)")
    parser.add_argument("-d", dest="delimiter", help="column delimiter (default: whitespace)")
    parser.add_argument("-o", dest="outside", default="O", help="outside tag, read as O")
    parser.add_argument("-r", dest="raw", action="store_true", help="tags without B-/I- prefixes")
    args = parser.parse_args(argv)
    delimiter = args.delimiter
    if delimiter is not None:  # `-d '\t'` as a shell passes it: a backslash escape
        delimiter = delimiter.encode("latin-1", "backslashreplace").decode("unicode_escape")
        if not delimiter:
            raise NlptagError("-d: the delimiter must not be empty")
    name = args.file or "<stdin>"
    lines = read_input_lines(args.file)
    counts = count_chunks(read_pairs(lines, name, delimiter, args.raw, args.outside))
    sys.stdout.write(report(counts))
    return 0
