import pytest
import torch
from torchmetrics.utilities import dim_zero_sum

from nlptag.metrics.conlleval import count_chunks
from nlptag.metrics.entity_f1 import EntityF1
from nlptag.text.schemes import extract_chunks

# Four sentences (gold, predicted) traced through conlleval.pl by hand:
MIXED = [
    # IOB2. gold PER[0,2) LOC[3,4); pred PER[0,2) ORG[3,4): PER correct. 4/5 tags right.
    (["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-PER", "I-PER", "O", "B-ORG", "O"]),
    # IOB1: B-LOC after I-LOC starts a new chunk, so gold has LOC[0,2) LOC[2,3), pred LOC[0,3);
    # at token 2 only gold ends a chunk, which clears conlleval's inCorrect: none correct. 2/3.
    (["I-LOC", "I-LOC", "B-LOC"], ["I-LOC", "I-LOC", "I-LOC"]),
    # ill-formed IOB2: I-ORG after O opens a chunk, the same ORG[1,2) as B-ORG: correct. 2/3.
    (["O", "I-ORG", "O"], ["O", "B-ORG", "O"]),
    # a type change inside a chunk closes it: gold PER[0,1) LOC[1,2), pred PER[0,2). 1/2.
    (["B-PER", "I-LOC"], ["B-PER", "I-PER"]),
]
# so: PER 1 correct of 2 found, 2 gold; LOC 0 of 1, 4 gold; ORG 1 of 2, 1 gold; 9 of 13 tags.
# conlleval.pl prints for this file:
#   processed 13 tokens with 7 phrases; found: 5 phrases; correct: 2.
#   accuracy:  69.23%; precision:  40.00%; recall:  28.57%; FB1:  33.33
#                 LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1
#                 ORG: precision:  50.00%; recall: 100.00%; FB1:  66.67  2
#                 PER: precision:  50.00%; recall:  50.00%; FB1:  50.00  2


def update(metric: EntityF1, pairs: list[tuple[list[str], list[str]]]) -> EntityF1:
    metric.update([pred for _, pred in pairs], [gold for gold, _ in pairs])
    return metric


def test_mixed_schemes_and_ill_formed_sequences_match_conlleval() -> None:
    metric = update(EntityF1(["PER", "LOC", "ORG"]), MIXED)
    assert metric.true_positives.tolist() == [1, 0, 1]
    assert metric.predicted.tolist() == [2, 1, 2]
    assert metric.gold.tolist() == [2, 4, 1]
    assert (metric.correct_tokens.item(), metric.total_tokens.item()) == (9, 13)
    scores = {name: value.item() for name, value in metric.compute().items()}
    expected = {
        "f1": 100 / 3,
        "precision": 40.0,
        "recall": 200 / 7,
        "acc": 900 / 13,
        "f1/PER": 50.0,
        "precision/PER": 50.0,
        "recall/PER": 50.0,
        "f1/LOC": 0.0,
        "precision/LOC": 0.0,
        "recall/LOC": 0.0,
        "f1/ORG": 200 / 3,
        "precision/ORG": 50.0,
        "recall/ORG": 100.0,
    }
    assert scores == pytest.approx(expected)
    assert list(scores) == list(expected)


def test_iobes() -> None:
    sentences = [
        # gold PER[0,2) LOC[2,3) PER[4,5); a B-PER closed by the sentence end reads as PER[4,5)
        (["B-PER", "E-PER", "S-LOC", "O", "S-PER"], ["B-PER", "E-PER", "S-LOC", "O", "B-PER"]),
        # E-PER without B-PER after O opens a chunk: PER[1,2) both
        (["O", "E-PER", "O"], ["O", "S-PER", "O"]),
        # two S-PER are two chunks, B-PER E-PER one: nothing correct
        (["S-PER", "S-PER"], ["B-PER", "E-PER"]),
        # I-PER after O opens the chunk that E-PER closes: PER[0,2) both
        (["B-PER", "E-PER"], ["I-PER", "E-PER"]),
    ]
    metric = update(EntityF1(["PER", "LOC"]), sentences)
    assert metric.true_positives.tolist() == [4, 1]
    assert metric.predicted.tolist() == [5, 1]
    assert metric.gold.tolist() == [6, 1]
    assert (metric.correct_tokens.item(), metric.total_tokens.item()) == (7, 12)
    scores = metric.compute()
    torch.testing.assert_close(scores["f1"], torch.tensor(2 * 5 / 13 * 100))  # 5 of 6 vs 5 of 7
    torch.testing.assert_close(scores["recall/PER"], torch.tensor(400 / 6))


def test_extract_chunks() -> None:
    assert extract_chunks(["B-PER", "I-PER", "O", "I-LOC", "I-LOC"]) == [
        ("PER", 0, 2),
        ("LOC", 3, 5),
    ]
    assert extract_chunks(["I-PER", "B-PER", "I-ORG", "O", "O"]) == [
        ("PER", 0, 1),
        ("PER", 1, 2),
        ("ORG", 2, 3),
    ]
    assert extract_chunks(["S-A", "B-A", "E-A", "E-A", "I-A", "E-A", "B-A"]) == [
        ("A", 0, 1),
        ("A", 1, 3),
        ("A", 3, 4),
        ("A", 4, 6),
        ("A", 6, 7),
    ]
    assert extract_chunks(["B-I-X", "I-I-X"]) == [("I-X", 0, 2)]  # type = after the first hyphen
    assert extract_chunks(["O", "O"]) == extract_chunks([]) == []


def test_extract_chunks_agrees_with_counting() -> None:
    tags = ["I-PER", "B-PER", "E-ORG", "S-ORG", "I-ORG", "O", "B-PER", "E-PER", "B-LOC"]
    counts = count_chunks((tag, "O") for tag in tags)
    found: dict[str, int] = {}
    for type_, _, _ in extract_chunks(tags):
        found[type_] = found.get(type_, 0) + 1
    assert dict(counts.gold) == found == {"PER": 3, "ORG": 3, "LOC": 1}


def test_summed_states_equal_one_metric_fed_everything() -> None:
    types = ["PER", "LOC", "ORG"]
    whole = update(EntityF1(types), MIXED)
    first, second = update(EntityF1(types), MIXED[:2]), update(EntityF1(types), MIXED[2:])
    summed = EntityF1(types)
    for name in summed._defaults:
        assert summed._reductions[name] is dim_zero_sum
        setattr(summed, name, getattr(first, name) + getattr(second, name))
        assert getattr(summed, name).equal(getattr(whole, name))
    torch.testing.assert_close(summed.compute(), whole.compute())


def test_empty_and_no_predictions() -> None:
    scores = EntityF1(["PER"]).compute()
    assert all(value.item() == 0.0 for value in scores.values())
    scores = update(EntityF1(["PER"]), [(["B-PER", "O"], ["O", "O"])]).compute()
    assert scores["precision"].item() == scores["recall"].item() == scores["f1"].item() == 0.0
    assert scores["acc"].item() == 50.0


@pytest.mark.parametrize(
    ("preds", "target", "message"),
    [
        ([["B-MISC"]], [["O"]], "'MISC'"),
        ([["O"]], [["I-DATE"]], "'DATE'"),
        ([["X-PER"]], [["O"]], "'X-PER'"),
        ([["PER"]], [["O"]], "'PER'"),
        ([["O", "O"]], [["O"]], "sentence 0"),
        ([["O"], ["O"]], [["O"]], "2 predicted"),
    ],
)
def test_bad_input_raises(preds: list, target: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EntityF1(["PER", "LOC"]).update(preds, target)
