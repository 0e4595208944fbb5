import pytest

from nlptag.errors import DataFormatError
from nlptag.text.readers import read_conllu

SAMPLE = """# newdoc id = d1
# sent_id = 1
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3.1\tknow\tknow\tVERB\tVB\t_\t_\t_\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

# sent_id = 2
1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def write(tmp_path, text, name="x.conllu"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_words_and_skips_comments_ranges_and_empty_nodes(tmp_path):
    sentences = list(read_conllu(write(tmp_path, SAMPLE)))
    assert sentences == [
        {
            "tokens": ["I", "do", "n't", "know", "."],
            "tags": ["PRON", "AUX", "PART", "VERB", "PUNCT"],
        },
        {"tokens": ["Yes"], "tags": ["INTJ"]},
    ]


def test_xpos_column_is_selectable(tmp_path):
    first = next(read_conllu(write(tmp_path, SAMPLE), tag_column="xpos"))
    assert first["tags"] == ["PRP", "VBP", "RB", "VB", "."]


def test_wrong_column_count_names_file_and_line(tmp_path):
    path = write(
        tmp_path, SAMPLE.replace("1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_", "1\tYes\tINTJ")
    )
    with pytest.raises(DataFormatError, match=r"x\.conllu:13: expected 10 TAB-separated columns"):
        list(read_conllu(path))


def test_non_numeric_id_names_file_and_line(tmp_path):
    path = write(tmp_path, SAMPLE.replace("5\t.\t.", "five\t.\t."))
    with pytest.raises(DataFormatError, match=r"x\.conllu:10: ID 'five' is not a word index"):
        list(read_conllu(path))


def test_empty_sentence_names_its_first_line(tmp_path):
    path = write(tmp_path, SAMPLE + "\n# sent_id = 3\n# text = nothing\n")
    with pytest.raises(DataFormatError, match=r"x\.conllu:15: empty sentence"):
        list(read_conllu(path))


def test_ids_out_of_order_are_an_error(tmp_path):
    path = write(tmp_path, SAMPLE.replace("5\t.\t.", "6\t.\t."))
    with pytest.raises(DataFormatError, match=r"x\.conllu:10: ID 6 out of order, expected 5"):
        list(read_conllu(path))
