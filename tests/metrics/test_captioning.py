"""Caption metrics: pinned values where the math is known, and parity with ``pycocoevalcap``
(the COCO caption evaluation) on a small file of captions; skipped cleanly without it."""

from __future__ import annotations

import math
import shutil

import pytest

from nlptag.metrics.captioning import CaptionScores, caption_scores, cider_d, coco_bleu
from nlptag.text.ptb import ptb_tokens, tokenize_caption

REFERENCES = [
    [
        "A dog runs across the grass .",
        "A brown dog is running on a lawn .",
        "The dog runs outside",
        "a dog running",
        "Dog on grass .",
    ],
    [
        "Two children play in the water .",
        "Kids splash in a pool .",
        "two kids swimming in a pool",
        "Children playing in water",
        "A boy and a girl in a pool",
    ],
    [
        "A man rides a bike down a hill .",
        "A cyclist on a mountain trail .",
        "Man on a bicycle",
        "a person biking downhill",
        "A biker rides down a dirt path .",
    ],
    [
        "A woman in a red shirt smiles .",
        "A smiling woman wearing red .",
        "Woman's portrait",
        "a lady in red",
        "A girl in a red top is smiling .",
    ],
]
HYPOTHESES = [
    "a dog is running on the grass",
    "two children are playing in a pool",
    "a man is riding a bike",
    "a woman in a red shirt is smiling",
]


def test_ptb_rules_of_the_coco_tokenizer():
    assert ptb_tokens("A dog's \"toy\" (red) and/or 1,000 st. louis 3.5 men, U.S. can't end.") == [
        "a",
        "dog",
        "'s",
        "``",
        "toy",
        "''",
        "-lrb-",
        "red",
        "-rrb-",
        "and/or",
        "1,000",
        "st.",
        "louis",
        "3.5",
        "men",
        ",",
        "u.s.",
        "ca",
        "n't",
        "end",
        ".",
    ]
    assert tokenize_caption("A man in a T-shirt , smiling .") == [
        "a",
        "man",
        "in",
        "a",
        "t-shirt",
        "smiling",
    ]
    assert tokenize_caption("Washington D.C.") == ["washington", "d.c."]


def test_perfect_captions_score_one():
    refs = [["a b c d e"], ["f g h i"]]
    assert coco_bleu(["a b c d e", "f g h i"], refs) == pytest.approx([1.0] * 4)


def test_brevity_penalty_uses_the_closest_reference_length():
    # hypothesis of 4 words; references of 8 and 5 words: closest is 5
    (b1, *_) = coco_bleu(["a b c d"], [["a b c d e f g h", "a b c d e"]])
    assert b1 == pytest.approx(math.exp(1 - 5 / 4), rel=1e-6)


def test_scores_are_percentages_and_the_metric_accumulates():
    metric = CaptionScores()
    metric.update(HYPOTHESES[:2], REFERENCES[:2])
    metric.update(HYPOTHESES[2:], REFERENCES[2:])
    assert metric.compute() == pytest.approx(caption_scores(HYPOTHESES, REFERENCES, False))
    metric.reset()
    assert metric.hypotheses == []


def _coco_inputs():
    hyps = [" ".join(tokenize_caption(h)) for h in HYPOTHESES]
    refs = [[" ".join(tokenize_caption(r)) for r in rs] for rs in REFERENCES]
    gts = {i: refs[i] for i in range(len(refs))}
    res = {i: [hyps[i]] for i in range(len(hyps))}
    return hyps, refs, gts, res


def test_bleu_and_cider_match_pycocoevalcap():
    pytest.importorskip("pycocoevalcap")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    hyps, refs, gts, res = _coco_inputs()
    expected_bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    expected_cider, _ = Cider().compute_score(gts, res)
    assert coco_bleu(hyps, refs) == pytest.approx(expected_bleu, abs=1e-12)
    assert cider_d(hyps, refs) == pytest.approx(expected_cider, abs=1e-9)


def _java_tokenizer():
    pytest.importorskip("pycocoevalcap")
    if shutil.which("java") is None:
        pytest.skip("needs Java for the reference PTB tokenizer")
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    return PTBTokenizer()


def test_python_ptb_tokenizer_matches_the_java_one():
    tokenizer = _java_tokenizer()
    captions = (
        [c for refs in REFERENCES for c in refs]
        + HYPOTHESES
        + [
            "A dog's toy ( red ) and/or 1,000 men , can't -- well-known dogs' toy ... end .",
            'A man in a "funny" hat at 3:30 with $5 and 50 % off ; yes !',
        ]
    )
    expected = tokenizer.tokenize({i: [{"caption": c}] for i, c in enumerate(captions)})
    for i, caption in enumerate(captions):
        assert " ".join(tokenize_caption(caption)) == expected[i][0], caption


@pytest.mark.slow
def test_meteor_matches_pycocoevalcap():
    _java_tokenizer()
    from pycocoevalcap.meteor.meteor import Meteor

    hyps, refs, gts, res = _coco_inputs()
    expected, _ = Meteor().compute_score(gts, res)
    assert caption_scores(HYPOTHESES, REFERENCES)["meteor"] == pytest.approx(100 * expected)


@pytest.mark.slow
def test_python_ptb_tokenizer_on_all_flickr8k_captions():
    """40,456 of the 40,460 captions tokenise exactly as with Java (the rest: ``'n'``)."""
    tokenizer = _java_tokenizer()
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "flickr8k" / "Flickr8k.token.txt"
    if not path.is_file():
        pytest.skip(f"needs the data mirror {path}")
    captions = [line.split("\t", 1)[1] for line in path.read_text().splitlines()]
    expected = tokenizer.tokenize({i: [{"caption": c}] for i, c in enumerate(captions)})
    same = sum(" ".join(tokenize_caption(c)) == expected[i][0] for i, c in enumerate(captions))
    assert same >= len(captions) - 4
