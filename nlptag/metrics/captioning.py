"""Caption metrics as the COCO caption evaluation (``pycocoevalcap``) computes them: corpus
BLEU-1..4 against all references ("closest" reference length), CIDEr-D (sigma 6, clipped
n-gram counts, x10, document frequencies from the scored set's references) and METEOR 1.5
(Java, only where Java and ``pycocoevalcap`` are present). Captions are tokenised with the
Python PTB tokenizer (:mod:`nlptag.text.ptb`) first, as the COCO code does with Java.

Scores are reported in [0, 100] (CIDEr-D too, so 38.4 means the COCO code's 0.384).
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Sequence

import torch
from torchmetrics import Metric

from nlptag.text.ptb import tokenize_caption

NGRAMS = 4


def _ngrams(words: Sequence[str], n: int = NGRAMS) -> Counter:
    return Counter(
        tuple(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1)
    )


def coco_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """Corpus BLEU-1..4 in [0, 1] of tokenised captions (words joined by spaces), exactly as
    ``pycocoevalcap.bleu`` computes them (its ``tiny``/``small`` constants included)."""
    tiny, small = 1e-15, 1e-9
    testlen = reflen = 0
    guess, correct = [0] * NGRAMS, [0] * NGRAMS
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        words = hypothesis.split()
        counts = _ngrams(words)
        lengths, maxcounts = [], Counter()
        for ref in refs:
            ref_words = ref.split()
            lengths.append(len(ref_words))
            for gram, count in _ngrams(ref_words).items():
                maxcounts[gram] = max(maxcounts[gram], count)
        testlen += len(words)
        reflen += min((abs(length - len(words)), length) for length in lengths)[1]
        for k in range(NGRAMS):
            guess[k] += max(0, len(words) - k)
        for gram, count in counts.items():
            correct[len(gram) - 1] += min(maxcounts.get(gram, 0), count)
    scores, product = [], 1.0
    for k in range(NGRAMS):
        product *= (correct[k] + tiny) / (guess[k] + small)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (testlen + tiny) / (reflen + small)
    if ratio < 1:
        scores = [score * math.exp(1 - 1 / ratio) for score in scores]
    return scores


def cider_d(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], sigma: float = 6.0
) -> float:
    """CIDEr-D of tokenised captions, as ``pycocoevalcap.cider`` computes it (x10 included)."""
    refs_counts = [[_ngrams(ref.split()) for ref in refs] for refs in references]
    frequency: Counter = Counter()
    for refs in refs_counts:
        frequency.update({gram for counts in refs for gram in counts})
    log_images = math.log(float(len(refs_counts)))

    def vector(counts: Counter):
        vec = [dict() for _ in range(NGRAMS)]
        norm = [0.0] * NGRAMS
        length = 0
        for gram, tf in counts.items():
            n = len(gram) - 1
            value = float(tf) * (log_images - math.log(max(1.0, frequency[gram])))
            vec[n][gram] = value
            norm[n] += value * value
            if n == 1:
                length += tf  # the COCO code counts bigrams as the length
        return vec, [math.sqrt(x) for x in norm], length

    total = 0.0
    for hypothesis, refs in zip(hypotheses, refs_counts, strict=True):
        vec, norm, length = vector(_ngrams(hypothesis.split()))
        score = [0.0] * NGRAMS
        for ref in refs:
            vec_ref, norm_ref, length_ref = vector(ref)
            penalty = math.exp(-((length - length_ref) ** 2) / (2 * sigma**2))
            for n in range(NGRAMS):
                value = sum(
                    min(weight, vec_ref[n].get(gram, 0.0)) * vec_ref[n].get(gram, 0.0)
                    for gram, weight in vec[n].items()
                )
                if norm[n] != 0 and norm_ref[n] != 0:
                    value /= norm[n] * norm_ref[n]
                score[n] += value * penalty
        total += sum(score) / NGRAMS / len(refs) * 10.0
    return total / len(refs_counts)


def java_available() -> bool:
    """Whether METEOR can run: Java on the PATH and ``pycocoevalcap`` (its jar) installed."""
    if shutil.which("java") is None:
        return False
    try:
        import pycocoevalcap.meteor.meteor  # noqa: F401
    except ImportError:
        return False
    return True


def meteor(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float | None:
    """METEOR 1.5 in [0, 1] of tokenised captions with ``pycocoevalcap``'s Java scorer, or
    ``None`` when Java or ``pycocoevalcap`` is missing."""
    if not java_available():
        return None
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()  # a Java process, ended when the scorer is collected
    gts = {i: list(refs) for i, refs in enumerate(references)}
    res = {i: [hypothesis] for i, hypothesis in enumerate(hypotheses)}
    score, _ = scorer.compute_score(gts, res)
    del scorer
    return float(score)


def caption_scores(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], with_meteor: bool = True
) -> dict[str, float]:
    """``bleu1``..``bleu4``, ``cider`` (CIDEr-D) and, when it can run, ``meteor``, in [0, 100],
    of raw captions (tokenised here with the PTB rules)."""
    if not hypotheses:
        return {}
    hyps = [" ".join(tokenize_caption(h)) for h in hypotheses]
    refs = [[" ".join(tokenize_caption(r)) for r in rs] for rs in references]
    scores = {f"bleu{k + 1}": 100.0 * b for k, b in enumerate(coco_bleu(hyps, refs))}
    scores["cider"] = 100.0 * cider_d(hyps, refs)
    if with_meteor:
        value = meteor(hyps, refs)
        if value is not None:
            scores["meteor"] = 100.0 * value
    return scores


class CaptionScores(Metric):
    """Collects generated captions and their references over batches; ``compute`` gives
    :func:`caption_scores` of the whole set (CIDEr-D's document frequencies need all of it).
    Single process: the captions are Python strings, not tensors, and are not gathered."""

    full_state_update = False

    def __init__(self, with_meteor: bool = False) -> None:
        super().__init__()
        self.with_meteor = with_meteor
        self.hypotheses: list[str] = []
        self.references_: list[list[str]] = []
        self.add_state("count", torch.zeros((), dtype=torch.long), "sum")

    def update(self, hypotheses: list[str], references: list[list[str]]) -> None:
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} captions but {len(references)} reference sets")
        self.hypotheses += list(hypotheses)
        self.references_ += [list(refs) for refs in references]
        self.count += len(hypotheses)

    def compute(self) -> dict[str, float]:
        return caption_scores(self.hypotheses, self.references_, self.with_meteor)

    def reset(self) -> None:
        super().reset()
        self.hypotheses, self.references_ = [], []
