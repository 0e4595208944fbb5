"""``nlptag tag``, ``classify``, ``translate``, ``attention`` and ``evaluate``: bundles (or
checkpoints) run on files. Input is a file or stdin, output a file (``-o``) or stdout; a
progress bar on stderr follows a file's progress."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TextIO

from tqdm import tqdm

from nlptag.errors import DataFormatError, NlptagError

InputFormat = Literal["auto", "text", "conll", "conllu"]
DOCSTART = "-DOCSTART-"
CONLLU_TAG_COLUMN = {"upos": 3, "xpos": 4}


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="a bundle directory from `nlptag export` (or a .ckpt)")
    parser.add_argument("input", nargs="?", help="input file (default: stdin)")
    parser.add_argument("-o", "--output", help="output file (default: stdout)")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    parser.add_argument(
        "--backend", choices=["torch", "onnx"], default="torch", help="onnx: bundle's model.onnx"
    )


def _read_lines(path: str | None) -> list[str]:
    if path is None:
        return sys.stdin.read().splitlines()
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise NlptagError(f"cannot read {path}: {error}") from None


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8") as handle:
        yield handle


def _predict_with_progress(
    predictor: Any, inputs: Sequence, batch_size: int, show: bool, **options: Any
) -> list:
    """``predictor.predict`` (with ``options``) over chunks of ``inputs``, with a progress bar
    on stderr."""
    chunk = max(batch_size * 8, 512)
    results: list[dict] = []
    with tqdm(total=len(inputs), unit="sent", file=sys.stderr, disable=not show) as bar:
        for start in range(0, len(inputs), chunk):
            part = inputs[start : start + chunk]
            results += predictor.predict(part, batch_size=batch_size, **options)
            bar.update(len(part))
    return results


# --- nlptag tag ---------------------------------------------------------------------------------
def detect_format(lines: list[str], name: str | None) -> InputFormat:
    """``conllu`` (a ``.conllu`` name, or 10 TAB-separated columns with an integer ID),
    ``conll`` (a ``-DOCSTART-`` line, or blank-line separated lines that all have the same
    number of columns, at least 2), else ``text``."""
    if name is not None and name.endswith(".conllu"):
        return "conllu"
    content = [line for line in lines if line.strip() and not line.startswith("#")]
    if not content:
        return "text"
    fields = content[0].split("\t")
    if len(fields) == 10 and fields[0].split("-")[0].split(".")[0].isdigit():
        return "conllu"
    if content[0].split()[0] == DOCSTART:
        return "conll"
    widths = {len(line.split()) for line in content[:200]}
    has_blank = any(not line.strip() for line in lines[: lines.index(content[-1])])
    if has_blank and len(widths) == 1 and widths.pop() >= 2:
        return "conll"
    return "text"


def column_sentences(
    lines: list[str], conllu: bool, name: str, token_column: int = 0
) -> list[list[int]]:
    """Line numbers (0-based) of each sentence's token lines in a CoNLL or CoNLL-U file. CoNLL-U
    skips comments, multiword ranges and empty nodes; CoNLL skips ``-DOCSTART-`` lines."""
    sentences: list[list[int]] = []
    current: list[int] = []
    for number, line in enumerate(lines):
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
            continue
        if conllu:
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 10:
                raise DataFormatError(name, number + 1, f"expected 10 columns, found {len(fields)}")
            if fields[0].isdigit():
                current.append(number)
        elif line.split()[0] == DOCSTART:
            if current:
                sentences.append(current)
            current = []
        else:
            if len(line.split()) <= token_column:
                raise DataFormatError(name, number + 1, f"no token column {token_column}")
            current.append(number)
    if current:
        sentences.append(current)
    return sentences


def tag_main(argv: list[str]) -> int:
    """``nlptag tag BUNDLE [INPUT]``: tags raw text (one tokenised sentence per line), CoNLL
    columns or CoNLL-U. CoNLL-U comes back as CoNLL-U with the predicted tag in the tag column;
    CoNLL columns come back with the prediction as an extra last column (what conlleval reads);
    raw text gives ``token<TAB>tag`` lines (``--format conll``) or JSON lines (``jsonl``)."""
    parser = argparse.ArgumentParser(prog="nlptag tag", description=tag_main.__doc__)
    _common_arguments(parser)
    parser.add_argument(
        "--input-format",
        choices=["auto", "text", "conll", "conllu"],
        default="auto",
        help="the input's format (auto: detected)",
    )
    parser.add_argument(
        "--format", choices=["conll", "jsonl"], default="conll", help="output for raw text"
    )
    parser.add_argument("--text", action="append", help="a sentence to tag (repeatable)")
    args = parser.parse_args(argv)
    from nlptag.predictors import TagPredictor, load

    predictor = load(args.bundle, args.backend)
    if not isinstance(predictor, TagPredictor):
        raise NlptagError(f"{args.bundle} is a {predictor.task} model, not a tagger")
    lines = args.text if args.text else _read_lines(args.input)
    name = args.input or "<stdin>"
    kind = args.input_format
    if kind == "auto":
        kind = "text" if args.text else detect_format(lines, args.input)
    show = args.input is not None
    with _output(args.output) as out:
        if kind == "text":
            sentences = [line.split() for line in lines if line.strip()]
            results = _predict_with_progress(predictor, sentences, args.batch_size, show)
            for result in results:
                if args.format == "jsonl":
                    out.write(json.dumps(result, ensure_ascii=False) + "\n")
                else:
                    pairs = zip(result["tokens"], result["tags"])
                    out.write("".join(f"{token}\t{tag}\n" for token, tag in pairs) + "\n")
            return 0
        conllu = kind == "conllu"
        token_column = 1 if conllu else int(predictor.bundle.data.get("token_column", 0))
        sentences = column_sentences(lines, conllu, name, token_column)
        split = (lambda line: line.split("\t")) if conllu else str.split
        tokens = [[split(lines[i])[token_column] for i in sentence] for sentence in sentences]
        results = _predict_with_progress(predictor, tokens, args.batch_size, show)
        tags = {i: tag for s, r in zip(sentences, results) for i, tag in zip(s, r["tags"])}
        column = CONLLU_TAG_COLUMN.get(predictor.bundle.data.get("tag_column", "upos"), 3)
        for number, line in enumerate(lines):
            if conllu and number in tags:
                fields = line.split("\t")
                fields[column] = tags[number]
                line = "\t".join(fields)
            elif not conllu and line.strip():
                separator = "\t" if "\t" in line else " "
                line = f"{line}{separator}{tags.get(number, 'O')}"  # -DOCSTART- lines get O
            out.write(line + "\n")
    return 0


# --- nlptag classify ----------------------------------------------------------------------------
def classify_main(argv: list[str]) -> int:
    """``nlptag classify BUNDLE [INPUT]``: one text per line in (blank lines are skipped);
    ``label<TAB>probability<TAB>text`` lines out."""
    parser = argparse.ArgumentParser(prog="nlptag classify", description=classify_main.__doc__)
    _common_arguments(parser)
    args = parser.parse_args(argv)
    from nlptag.predictors import ClassifierPredictor, load

    predictor = load(args.bundle, args.backend)
    if not isinstance(predictor, ClassifierPredictor):
        raise NlptagError(f"{args.bundle} is a {predictor.task} model, not a classifier")
    texts = [line for line in _read_lines(args.input) if line.strip()]
    results = _predict_with_progress(predictor, texts, args.batch_size, args.input is not None)
    with _output(args.output) as out:
        for text, result in zip(texts, results):
            out.write(f"{result['label']}\t{result['probability']:.6f}\t{text}\n")
    return 0


def translate_main(argv: list[str]) -> int:
    """``nlptag translate BUNDLE [INPUT] [--beam N]``: one source sentence per line in, its
    translation per line out (a blank line gives a blank line)."""
    parser = argparse.ArgumentParser(prog="nlptag translate", description=translate_main.__doc__)
    _common_arguments(parser)
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the model's)")
    args = parser.parse_args(argv)
    if args.backend != "torch":
        raise NlptagError("translation models run in torch only (--backend torch)")
    from nlptag.predictors import TranslationPredictor, load

    predictor = load(args.bundle)
    if not isinstance(predictor, TranslationPredictor):
        raise NlptagError(f"{args.bundle} is a {predictor.task} model, not a translation model")
    if args.beam is not None and args.beam < 1:
        raise NlptagError("--beam must be at least 1")
    lines = _read_lines(args.input)
    kept = [line for line in lines if line.strip()]
    results = _predict_with_progress(
        predictor, kept, args.batch_size, args.input is not None, beam_size=args.beam
    )
    translations = iter(results)
    with _output(args.output) as out:
        for line in lines:
            out.write((next(translations) if line.strip() else "") + "\n")
    return 0


def attention_main(argv: list[str]) -> int:
    """``nlptag attention BUNDLE SENTENCE -o attention.png [--beam N]``: translates one sentence
    and saves the attention weights as a heatmap (source subwords along x, output subwords
    along y); prints the translation."""
    parser = argparse.ArgumentParser(prog="nlptag attention", description=attention_main.__doc__)
    parser.add_argument("bundle", help="a translation bundle from `nlptag export` (or a .ckpt)")
    parser.add_argument("sentence", help="the source sentence")
    parser.add_argument("-o", "--output", default="attention.png", help="PNG file to write")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the model's)")
    args = parser.parse_args(argv)
    from nlptag.attention_plot import save_attention_heatmap
    from nlptag.predictors import TranslationPredictor, load

    predictor = load(args.bundle)
    if not isinstance(predictor, TranslationPredictor):
        raise NlptagError(f"{args.bundle} is a {predictor.task} model, not a translation model")
    result = predictor.attention(args.sentence, args.beam)
    path = save_attention_heatmap(
        result["weights"],
        result["source_tokens"],
        result["output_tokens"],
        args.output,
        title=result["translation"],
    )
    print(result["translation"])
    print(f"attention heatmap written to {path}", file=sys.stderr)
    return 0


# --- nlptag evaluate ----------------------------------------------------------------------------
def evaluate(bundle_path: str | Path, file: str | Path) -> dict[str, float]:
    """The task's test metrics on a labelled file, computed by the task module's own
    ``test_step`` in a Lightning test loop fed by the bundle's data module (rebuilt from its
    recorded hyperparameters and vocabularies): the numbers ``nlptag test`` gives."""
    import logging

    from pytorch_lightning import LightningDataModule, Trainer
    from pytorch_lightning.cli import instantiate_module

    from nlptag.bundle import open_bundle
    from nlptag.inference import check_class_paths

    bundle = open_bundle(bundle_path)
    data = dict(bundle.data)
    # translation reads FILE.<source> and FILE.<target> (FILE is a prefix); its data module
    # names the files it cannot find
    if "source_language" not in data and not Path(file).is_file():
        raise NlptagError(f"{file} does not exist or is not a file")
    check_class_paths(data, bundle.source)
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
    trainer.test(bundle.build_module(), datamodule=datamodule, verbose=False)
    return {
        key: float(value)
        for key, value in trainer.callback_metrics.items()
        if key.startswith("test/")
    }


def evaluate_main(argv: list[str]) -> int:
    """``nlptag evaluate BUNDLE FILE``: the task's metrics on a labelled file (the format the
    model was trained on), as JSON on stdout, computed by the same code as ``nlptag test``."""
    parser = argparse.ArgumentParser(prog="nlptag evaluate", description=evaluate_main.__doc__)
    parser.add_argument("bundle", help="a bundle directory from `nlptag export` (or a .ckpt)")
    parser.add_argument("file", help="a labelled file")
    args = parser.parse_args(argv)
    metrics = evaluate(args.bundle, args.file)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0
