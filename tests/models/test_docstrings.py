"""Docs in code for ``nlptag/models``: every constructor argument has an ``Args:`` entry (the text
of ``nlptag fit --help``), and every shape letter used is defined in the one table of
:mod:`nlptag.models`."""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import pkgutil
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

import nlptag.models

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    importlib.import_module(f"nlptag.models.{info.name}")
    for info in pkgutil.iter_modules(nlptag.models.__path__)
]
CLASSES = [
    cls
    for module in MODULES
    for _, cls in inspect.getmembers(module, inspect.isclass)
    if cls.__module__ == module.__name__
]
SOURCES = sorted(Path(nlptag.models.__file__).parent.glob("*.py"))

ENTRY = re.compile(r"(\*{0,2}\w+)(?: \([^()]*\))?: \S")  # "name: text" or "name (type): text"


def args_section(doc: str | None) -> list[str]:
    """The names of the entries of a Google-style ``Args:`` section, in order ([] if none).

    The section starts at an unindented ``Args:`` line and ends at the next unindented line;
    entries are its least indented lines, deeper lines continue the entry above them.
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    starts = [i for i, line in enumerate(lines) if line == "Args:"]
    if not starts:
        return []
    assert len(starts) == 1, "more than one Args: section"
    names, indent = [], None
    for line in lines[starts[0] + 1 :]:
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        if width == 0:
            break
        indent = width if indent is None else indent
        if width < indent:
            raise AssertionError(f"Args entry indented less than the first one: {line!r}")
        if width == indent:
            match = ENTRY.match(line.strip())
            assert match, f"not an Args entry (name: text or name (type): text): {line!r}"
            names.append(match.group(1))
    return names


def init_parameters(cls: type) -> list[str]:
    """The constructor's named parameters (self, *args and **kwargs left out)."""
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in inspect.signature(cls).parameters.values() if p.kind not in variadic]


def test_the_parser_reads_args_sections():
    doc = """Summary.

    Args:
        first: one line.
        second (int): two
            lines.

        third: after a blank line.

    Returns:
        Not an argument.
    """
    assert args_section(doc) == ["first", "second", "third"]
    assert args_section("Summary mentioning first: and second:.") == []
    with pytest.raises(AssertionError, match="not an Args entry"):
        args_section("Summary.\n\nArgs:\n    first - no colon.\n")


def test_every_model_class_is_checked():
    names = {cls.__name__ for cls in CLASSES}
    assert {"WordEmbedder", "RecurrentEncoder", "CRFHead", "Seq2Seq", "Search"} <= names
    assert len(MODULES) == len(SOURCES) - 1  # every module but __init__


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_constructor_argument_has_an_args_entry(cls):
    parameters = init_parameters(cls)
    documented = args_section(cls.__doc__)
    assert not [name for name in parameters if name not in documented], (
        f"{cls.__name__}: constructor arguments without an Args entry in the class docstring"
    )
    assert not [name for name in documented if name not in parameters], (
        f"{cls.__name__}: Args entries that are not constructor arguments"
    )
    assert len(documented) == len(set(documented)), f"{cls.__name__}: an argument listed twice"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_jsonargparse_reads_the_same_args(cls):
    """docstring-parser is what jsonargparse turns into --help text."""
    docstring_parser = pytest.importorskip("docstring_parser")
    parsed = docstring_parser.parse(cls.__doc__ or "", docstring_parser.DocstringStyle.GOOGLE)
    described = {param.arg_name: param.description for param in parsed.params}
    for name in init_parameters(cls):
        assert described.get(name), f"{cls.__name__}.{name}: no help text"


def shape_table() -> dict[str, str]:
    """Letter -> meaning, from the table between the two ``=====`` rules of the package docs."""
    lines = nlptag.models.__doc__.splitlines()
    rules = [i for i, line in enumerate(lines) if re.fullmatch(r"=+ +=+", line)]
    assert len(rules) == 2, "nlptag.models needs one table of shape letters"
    table: dict[str, str] = {}
    for line in lines[rules[0] + 1 : rules[1]]:
        match = re.fullmatch(r"([A-Z]) {2,}(\S.*)", line)
        if match:
            assert match.group(1) not in table, f"shape letter {match.group(1)} defined twice"
            table[match.group(1)] = match.group(2)
        else:
            assert line.startswith(" "), f"not a table row: {line!r}"
    return table


DIM = r"(?:[A-Za-z_]\w*'?|\d+)"  # a letter (B, B'), a size argument (num_filters) or a number
ELEMENT = re.compile(rf"|\.\.\.|{DIM}(?: *[-+*/] *{DIM})*")
LETTER = re.compile(r"(?<![\w'])[A-Z](?![\w])")


def shape_tuples(text: str) -> list[tuple[str, set[str]]]:
    """The ``(B, T, F)``-style shapes in ``text``: each with the shape letters it uses.

    A shape is a parenthesised, comma-separated list of dimensions (letters, size arguments,
    numbers, ``...``, and products or sums of them) with at least one single capital letter;
    prose in parentheses is not a shape.
    """
    shapes = []
    for inside in re.findall(r"\(([^()]*,[^()]*)\)", text):
        elements = [element.strip() for element in inside.split(",")]
        if all(ELEMENT.fullmatch(element) for element in elements):
            letters = set(LETTER.findall(inside))
            if letters:
                shapes.append((f"({inside})", letters))
    return shapes


def docs_and_comments(path: Path) -> list[str]:
    """Every string statement (module, class, function and attribute docstrings) and comment."""
    source = path.read_text()
    strings = [
        node.value.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    comments = [
        token.string
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    return strings + comments


def test_shape_tuples_are_recognised():
    found = shape_tuples("x (B, T, F) and (B,) (B * K, V) (B', L', 2 * H) (..., H) (h, c)")
    assert [letters for _, letters in found] == [
        {"B", "T", "F"},
        {"B"},
        {"B", "K", "V"},
        {"B", "L", "H"},
        {"H"},
    ]
    assert shape_tuples("(Bahdanau, the default) (query_size, key_size) (Le et al. 2015, A)") == []


def test_every_shape_letter_is_in_the_table():
    table = shape_table()
    assert {"B", "T", "C", "H", "F", "K", "V"} <= set(table)
    undefined = [
        f"{path.name}: {shape}"
        for path in SOURCES
        for text in docs_and_comments(path)
        for shape, letters in shape_tuples(text)
        if letters - set(table)
    ]
    assert not undefined, "shape letters missing from the table in nlptag/models/__init__.py"
    used = {
        letter
        for path in SOURCES
        for text in docs_and_comments(path)
        for _, letters in shape_tuples(text)
        for letter in letters
    }
    assert len(used) >= 10  # the check above looked at real shapes


def test_shape_letters_are_defined_only_in_the_package_docs():
    redefined = [
        path.name
        for path in SOURCES
        if path.name != "__init__.py"
        and re.search(r"Shapes: ``[A-Z]``", ast.get_docstring(ast.parse(path.read_text())) or "")
    ]
    assert not redefined, "modules with their own shape legend; use the nlptag.models table"


def test_fit_help_shows_args_text():
    """``nlptag fit --help`` for a nested class shows the Args text of nlptag/models."""
    command = [sys.executable, "-m", "nlptag.cli", "fit", "--config", "configs/demo.yaml"]
    command += ["--model.init_args.embedder.help", "nlptag.models.embeddings.WordEmbedder"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "--embedder.word_dropout" in text
    assert "probability, in training, of replacing a word by ``<unk>`` (0 disables it)" in text
