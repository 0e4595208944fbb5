"""``nlptag tag``, ``classify``, ``translate``, ``attention`` and ``generate``: bundles (or
checkpoints) run on files or text. Input is a file or stdin, output a file (``-o``) or stdout; a
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

from nlptag.cli.arguments import (
    ToolArgumentParser,
    non_negative_int,
    positive_int,
    temperature,
)
from nlptag.errors import NlptagError
from nlptag.files import atomic_open
from nlptag.text.readers import (
    CONLLU_COLUMN_INDEX,
    DOCSTART,
    decode_text,
    read_conll_columns,
    read_conllu,
    text_lines,
)

InputFormat = Literal["auto", "text", "conll", "conllu"]


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="a bundle directory from `nlptag export` (or a .ckpt)")
    parser.add_argument("input", nargs="?", help="input file (default: stdin)")
    parser.add_argument("-o", "--output", help="output file (default: stdout)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="sentences per batch")
    parser.add_argument(
        "--backend", choices=["torch", "onnx"], default="torch", help="onnx: bundle's model.onnx"
    )
    parser.add_argument(
        "--processes",
        type=positive_int,
        default=1,
        help="worker processes for large inputs, each with an equal share of the threads "
        "(output in input order, the same as with 1)",
    )


def read_input_lines(path: str | None) -> list[str]:
    """The lines of an input file, or of stdin when ``path`` is None, read as every reader
    reads files (UTF-8 checked, byte-order mark and ``\r`` line ends dropped)."""
    if path is None:
        stdin = getattr(sys.stdin, "buffer", None)  # a text-only stdin (tests) has no bytes
        data = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8")
        return decode_text(data, "<stdin>")
    return text_lines(path)


def file_lines(path: str | None) -> list[str] | None:
    """The lines of the input file, read before the model loads so that a bad file stops at
    once; ``None`` for stdin, which is read once the model has loaded."""
    return None if path is None else read_input_lines(path)


def check_output(path: str | None) -> None:
    """Stop before any work when ``-o`` cannot be written: its directory must exist."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise NlptagError(f"-o {path}: is a directory; give a file name")
    if not target.parent.is_dir():
        raise NlptagError(f"-o {path}: the directory {target.parent} does not exist")


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    """Stdout, or a file written atomically (temporary file in its directory, then renamed)."""
    if path is None:
        yield sys.stdout
        return
    check_output(path)
    with atomic_open(path, "w", what=f"output -o {path}") as out:
        yield out


def _predict_with_progress(
    predictor: Any, inputs: Sequence, args: argparse.Namespace, show: bool, **options: Any
) -> list:
    """``predictor.predict`` (with ``options``) over chunks of ``inputs``, with a progress bar
    on stderr; on ``args.processes`` worker processes when there is more than one chunk
    (:func:`nlptag.inference.parallel.predict_in_processes`)."""
    chunk = max(args.batch_size * 8, 512)
    results: list[dict] = []
    with tqdm(total=len(inputs), unit="sent", file=sys.stderr, disable=not show) as bar:
        if args.processes > 1 and len(inputs) > chunk:
            from nlptag.inference.parallel import predict_in_processes

            return predict_in_processes(
                args.bundle,
                inputs,
                args.batch_size,
                args.processes,
                args.backend,
                chunk,
                bar.update,
                **options,
            )
        for start in range(0, len(inputs), chunk):
            part = inputs[start : start + chunk]
            results += predictor.predict(part, batch_size=args.batch_size, **options)
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


def tag_main(argv: list[str]) -> int:
    """tag text, CoNLL or CoNLL-U with a tagger bundle

    ``nlptag tag BUNDLE [INPUT]``: tags raw text (one tokenised sentence per line), CoNLL
    columns or CoNLL-U. CoNLL-U comes back as CoNLL-U with the predicted tag in the tag column;
    CoNLL columns come back with the prediction as an extra last column (what conlleval reads);
    raw text gives ``token<TAB>tag`` lines (``--format conll``) or JSON lines (``jsonl``)."""
    parser = ToolArgumentParser(prog="nlptag tag", description=tag_main.__doc__)
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
    args = parser.parse_intermixed_args(argv)
    check_output(args.output)
    lines = args.text or file_lines(args.input)  # a bad file stops before the model loads
    from nlptag.inference import TagPredictor, load

    predictor = load(args.bundle, args.backend)
    if not isinstance(predictor, TagPredictor):
        raise NlptagError(f"{args.bundle} is a {predictor.task} model, not a tagger")
    if lines is None:
        lines = read_input_lines(None)
    name = args.input or "<stdin>"
    kind = args.input_format
    if kind == "auto":
        kind = "text" if args.text else detect_format(lines, args.input)
    show = args.input is not None
    with _output(args.output) as out:
        if kind == "text":
            sentences = [line.split() for line in lines if line.strip()]
            results = _predict_with_progress(predictor, sentences, args, show)
            for result in results:
                if args.format == "jsonl":
                    out.write(json.dumps(result, ensure_ascii=False) + "\n")
                else:
                    pairs = zip(result["tokens"], result["tags"])
                    out.write("".join(f"{token}\t{tag}\n" for token, tag in pairs) + "\n")
            return 0
        conllu = kind == "conllu"
        if conllu:
            sentences = list(read_conllu(name, lines=lines, with_lines=True))
        else:
            token_column = int(predictor.bundle.data.get("token_column", 0))
            sentences = list(
                read_conll_columns(name, token_column, None, lines=lines, with_lines=True)
            )
        tokens = [sentence["tokens"] for sentence in sentences]
        results = _predict_with_progress(predictor, tokens, args, show)
        tags = {
            number - 1: tag
            for sentence, result in zip(sentences, results)
            for number, tag in zip(sentence["lines"], result["tags"])
        }
        column = CONLLU_COLUMN_INDEX.get(predictor.bundle.data.get("tag_column", "upos"), 3)
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
    """label texts with a classifier bundle

    ``nlptag classify BUNDLE [INPUT]``: one text per line in (blank lines are skipped);
    ``label<TAB>probability<TAB>text`` lines out."""
    parser = ToolArgumentParser(prog="nlptag classify", description=classify_main.__doc__)
    _common_arguments(parser)
    args = parser.parse_intermixed_args(argv)
    check_output(args.output)
    lines = file_lines(args.input)  # a bad file stops before the model loads
    from nlptag.inference import ClassifierPredictor, load

    predictor = load(args.bundle, args.backend)
    if not isinstance(predictor, ClassifierPredictor):
        raise NlptagError(f"{args.bundle} is a {predictor.task} model, not a classifier")
    texts = [line for line in lines or read_input_lines(None) if line.strip()]
    results = _predict_with_progress(predictor, texts, args, args.input is not None)
    with _output(args.output) as out:
        for text, result in zip(texts, results):
            out.write(f"{result['label']}\t{result['probability']:.6f}\t{text}\n")
    return 0


def translate_main(argv: list[str]) -> int:
    """translate sentences with a seq2seq bundle

    ``nlptag translate BUNDLE [INPUT] [--beam N]``: one source sentence per line in, its
    translation per line out (a blank line gives a blank line)."""
    parser = ToolArgumentParser(prog="nlptag translate", description=translate_main.__doc__)
    _common_arguments(parser)
    parser.add_argument(
        "--beam", type=positive_int, default=None, help="beam size (default: the model's)"
    )
    args = parser.parse_intermixed_args(argv)
    if args.backend != "torch":
        raise NlptagError("translation models run in torch only (--backend torch)")
    check_output(args.output)
    lines = file_lines(args.input)  # a bad file stops before the model loads
    from nlptag.inference import TranslationPredictor, load

    predictor = load(args.bundle)
    if not isinstance(predictor, TranslationPredictor):
        raise NlptagError(f"{args.bundle} is a {predictor.task} model, not a translation model")
    if lines is None:
        lines = read_input_lines(None)
    kept = [line for line in lines if line.strip()]
    results = _predict_with_progress(
        predictor, kept, args, args.input is not None, beam_size=args.beam
    )
    translations = iter(results)
    with _output(args.output) as out:
        for line in lines:
            out.write((next(translations) if line.strip() else "") + "\n")
    return 0


def attention_main(argv: list[str]) -> int:
    """save a translation's attention as a PNG

    ``nlptag attention BUNDLE SENTENCE -o attention.png [--beam N]``: translates one sentence
    and saves the attention weights as a heatmap (source subwords along x, output subwords
    along y); prints the translation."""
    parser = ToolArgumentParser(prog="nlptag attention", description=attention_main.__doc__)
    parser.add_argument("bundle", help="a translation bundle from `nlptag export` (or a .ckpt)")
    parser.add_argument("sentence", help="the source sentence")
    parser.add_argument("-o", "--output", default="attention.png", help="PNG file to write")
    parser.add_argument(
        "--beam", type=positive_int, default=None, help="beam size (default: the model's)"
    )
    args = parser.parse_args(argv)
    check_output(args.output)
    from nlptag.inference import TranslationPredictor, load
    from nlptag.inference.plots import save_attention_heatmap

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


# --- nlptag generate ---------------------------------------------------------------------------
def _generate_parser() -> argparse.ArgumentParser:
    parser = ToolArgumentParser(
        prog="nlptag generate",
        description="Sample text from a trained character language model; prints the prime "
        "followed by the sampled characters.",
    )
    parser.add_argument("bundle", help="a bundle directory from `nlptag export` (or a .ckpt)")
    parser.add_argument(
        "--prime", default="\n", help="text read before sampling (default: a newline)"
    )
    parser.add_argument("--length", type=non_negative_int, default=500, help="characters to sample")
    parser.add_argument(
        "--temperature", type=temperature, default=1.0, help="softmax temperature; 0 is greedy"
    )
    parser.add_argument(
        "--top-k", type=positive_int, default=None, help="sample among the k most likely"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for a reproducible sample")
    return parser


def generate_main(argv: list[str]) -> int:
    """sample text from a character language model bundle

    ``nlptag generate BUNDLE --prime TEXT --length N``: prints the prime followed by the
    sampled characters."""
    args = _generate_parser().parse_intermixed_args(argv)
    if not args.prime:
        raise NlptagError("--prime must not be empty")
    from nlptag.inference import LanguageModelPredictor, load

    predictor = load(args.bundle)
    if not isinstance(predictor, LanguageModelPredictor):
        raise NlptagError(f"{args.bundle} is a {predictor.task} model, not a language model")
    (text,) = predictor.predict(
        [args.prime],
        length=args.length,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
    )
    print(args.prime + text)
    return 0
