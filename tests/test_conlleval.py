import io
from pathlib import Path

import pytest

from nlptag.cli import main as nlptag_main


def main(argv: list[str]) -> int:
    return nlptag_main(["conlleval", *argv])


# The sentences of tests/metrics/test_entity_f1.py's MIXED, as "word POS gold predicted" lines
# after a -DOCSTART- line; the third sentence is closed by conlleval's own boundary "-X-".
DATA = """\
-DOCSTART- -X- O O

John NNP B-PER B-PER
Smith NNP I-PER I-PER
in IN O O
Paris NNP B-LOC B-ORG
. . O O

New NNP I-LOC I-LOC
South NNP I-LOC I-LOC
Wales NNP B-LOC I-LOC

at IN O O
Apple NNP I-ORG B-ORG
. . O O
-X- -X- O O
Anna NNP B-PER B-PER
Berlin NNP I-LOC I-PER
"""
# the output of conlleval.pl (2004-01-26) for DATA: the -DOCSTART- line counts as a token
REPORT = """\
processed 14 tokens with 7 phrases; found: 5 phrases; correct: 2.
accuracy:  71.43%; precision:  40.00%; recall:  28.57%; FB1:  33.33
              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1
              ORG: precision:  50.00%; recall: 100.00%; FB1:  66.67  2
              PER: precision:  50.00%; recall:  50.00%; FB1:  50.00  2
"""


def run(capsys: pytest.CaptureFixture, argv: list[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_report_matches_conlleval(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "output.txt"
    path.write_text(DATA)
    assert run(capsys, [str(path)]) == (0, REPORT, "")


def test_stdin_and_delimiter(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    tabbed = "".join("\t".join(line.split(" ")) + "\n" for line in DATA.splitlines())
    tabbed = tabbed.replace("New\t", "New South\t")  # a token with a space inside
    monkeypatch.setattr("sys.stdin", io.StringIO(tabbed))
    assert run(capsys, ["-d", "\t"]) == (0, REPORT, "")


def test_raw_tags_and_outside_tag(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # with -r every tag but the outside one is a one-token chunk: gold PER PER, predicted PER LOC
    path = tmp_path / "raw.txt"
    path.write_text("a PER PER\nb PER LOC\nc NONE NONE\n")
    assert run(capsys, ["-r", "-o", "NONE", str(path)]) == (
        0,
        "processed 3 tokens with 2 phrases; found: 2 phrases; correct: 1.\n"
        "accuracy:  66.67%; precision:  50.00%; recall:  50.00%; FB1:  50.00\n"
        "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              PER: precision: 100.00%; recall:  50.00%; FB1:  66.67  1\n",
        "",
    )


def test_empty_input_prints_only_the_totals(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n\n")
    expected = "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"
    assert run(capsys, [str(path)]) == (0, expected, "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a NN O O\nb NN O O\nc O O\n", ":3: 3 columns, expected 4\n"),
        ("a O\n", ":1: need at least 3 columns: token ... gold predicted\n"),
    ],
)
def test_malformed_lines_are_reported(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    assert run(capsys, [str(path)]) == (2, "", f"nlptag: error: {path}{message}")


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    status, out, err = run(capsys, [str(tmp_path / "missing.txt")])
    assert (status, out) == (2, "") and err.startswith("nlptag: error: ") and "missing.txt" in err
