import argparse

import pytest

from nlptag.cli.arguments import ToolArgumentParser, non_negative_int, positive_int, temperature


def test_positive_int_accepts_integers_from_one():
    assert [positive_int(text) for text in ("1", "42", " 7 ", "+3")] == [1, 42, 7, 3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "expected a positive integer, got 0"),
        ("-5", "expected a positive integer, got -5"),
        ("2.5", "expected a positive integer, got '2.5'"),
        ("", "expected a positive integer, got ''"),
    ],
)
def test_positive_int_refuses_with_the_value_in_the_message(text, message):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        positive_int(text)
    assert str(info.value) == message


def test_non_negative_int_accepts_zero_and_refuses_negatives_and_words():
    assert [non_negative_int(text) for text in ("0", "3")] == [0, 3]
    with pytest.raises(argparse.ArgumentTypeError) as info:
        non_negative_int("-1")
    assert str(info.value) == "expected an integer >= 0, got -1"
    with pytest.raises(argparse.ArgumentTypeError) as info:
        non_negative_int("two")
    assert str(info.value) == "expected an integer >= 0, got 'two'"


def test_temperature_accepts_finite_numbers_from_zero():
    assert [temperature(text) for text in ("0", "0.7", "1e1", "2")] == [0.0, 0.7, 10.0, 2.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-0.1", "expected a finite number >= 0, got -0.1"),
        ("inf", "expected a finite number >= 0, got inf"),
        ("nan", "expected a finite number >= 0, got nan"),
        ("hot", "expected a number >= 0, got 'hot'"),
    ],
)
def test_temperature_refuses_negative_infinite_and_non_numbers(text, message):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        temperature(text)
    assert str(info.value) == message


def test_a_bad_argument_is_one_error_line_and_exit_status_2(capsys):
    parser = ToolArgumentParser(prog="nlptag-tool")
    parser.add_argument("--beam-size", type=positive_int, default=1)
    assert parser.parse_args(["--beam-size", "4"]).beam_size == 4
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--beam-size", "0"])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "nlptag: error: argument --beam-size: expected a positive integer, got 0 "
        "(see `nlptag-tool --help`)\n"
    )
