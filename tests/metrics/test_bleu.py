"""nlptag/metrics/bleu.py: CorpusBLEU equals sacrebleu.corpus_bleu on the whole corpus, however
the corpus is cut into batches (the basic sacreBLEU agreement is also in test_seq2seq.py)."""

import random

import pytest
import sacrebleu

from nlptag.metrics.bleu import CorpusBLEU

WORDS = ["the", "a", "dog", "cat", "runs", "sat", "on", "mat", ".", "Hello", ",", "world", "!"]


def corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    generator = random.Random(seed)
    references = [" ".join(generator.choices(WORDS, k=generator.randint(1, 12))) for _ in range(n)]
    hypotheses = []
    for reference in references:
        tokens = reference.split()
        tokens = [t if generator.random() < 0.7 else generator.choice(WORDS) for t in tokens]
        hypotheses.append(" ".join(tokens[: generator.randint(0, len(tokens))]))
    return hypotheses, references


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_any_batching_gives_sacrebleus_corpus_bleu(seed):
    hypotheses, references = corpus(40, seed)
    expected = sacrebleu.corpus_bleu(hypotheses, [references]).score
    assert 0 < expected < 100
    generator = random.Random(seed)
    metric = CorpusBLEU()
    start = 0
    while start < len(hypotheses):
        end = start + generator.randint(0, 7)  # empty batches too
        metric.update(hypotheses[start:end], references[start:end])
        start = end
    assert float(metric.compute()) == pytest.approx(expected, abs=1e-9)
    # the order of the sentences does not matter to a corpus score
    shuffled = CorpusBLEU()
    order = list(range(len(hypotheses)))
    generator.shuffle(order)
    shuffled.update([hypotheses[i] for i in order], [references[i] for i in order])
    assert float(shuffled.compute()) == pytest.approx(expected, abs=1e-9)


def test_pinned_ends_reset_and_errors():
    metric = CorpusBLEU()
    metric.update(["the cat sat on the mat ."], ["the cat sat on the mat ."])
    assert float(metric.compute()) == pytest.approx(100.0)
    metric.reset()
    metric.update(["dog"], ["the cat sat on the mat ."])
    assert float(metric.compute()) == 0.0
    with pytest.raises(ValueError, match="^2 hypotheses but 1 references$"):
        metric.update(["a", "b"], ["a"])
