"""nlptag/inference/predictors.py: batching that changes nothing, tag confidences and class
probabilities equal to the softmax of the network's scores, labels, refusals."""

import dataclasses

import pytest
import torch

import nlptag
from nlptag.errors import NlptagError
from nlptag.inference.bundle import open_bundle
from nlptag.inference.predictors import PREDICTORS, length_sorted_batches, predictor_class
from nlptag.text.encoding import (
    collate_classification,
    collate_tagging,
    encode_sentence,
    encode_text,
)

NER = ["ann met bob in paris", ["rome"], "the unknownword saw ann today in rome", "bob saw"]
TEXTS = ["w1 great w2", "w3 w4", "great", "w1 w1 w2 zzz w3", "w2"]


def test_length_sorted_batches_longest_first_and_ties_in_input_order():
    assert list(length_sorted_batches([2, 5, 1, 5, 3], 2)) == [[1, 3], [4, 0], [2]]
    assert list(length_sorted_batches([], 4)) == []
    with pytest.raises(NlptagError, match="^batch_size must be at least 1$"):
        list(length_sorted_batches([1], 0))


@pytest.fixture(scope="module")
def ner(tiny_checkpoints):
    return nlptag.load(tiny_checkpoints("ner")["checkpoint"])


@pytest.fixture(scope="module")
def classifier(tiny_checkpoints):
    return nlptag.load(tiny_checkpoints("classification")["checkpoint"])


def test_tag_results_do_not_depend_on_batch_size_or_order(ner):
    reference = ner.predict(NER, batch_size=64)
    for size in (1, 3):
        results = ner.predict(NER, batch_size=size)
        assert [r["tags"] for r in results] == [r["tags"] for r in reference]
        for a, b in zip(results, reference):
            assert a["confidences"] == pytest.approx(b["confidences"], abs=1e-6)
    reversed_results = ner.predict(NER[::-1], batch_size=2)[::-1]
    assert [r["tags"] for r in reversed_results] == [r["tags"] for r in reference]
    assert [r["tokens"] for r in reference] == [s.split() if isinstance(s, str) else s for s in NER]


def test_packed_and_padded_encoder_runs_predict_the_same(tiny_checkpoints):
    """``encoder_run`` only chooses kernels: tags equal, confidences equal up to rounding."""
    checkpoint = tiny_checkpoints("ner")["checkpoint"]
    packed = nlptag.load(checkpoint, encoder_run="packed")
    padded = nlptag.load(checkpoint, encoder_run="padded")
    assert packed.network.encoder.inference_run == "packed"
    assert padded.network.encoder.inference_run == "padded"
    for module in padded.network.modules():  # the char BiLSTM, if the tiny tagger has one
        assert getattr(module, "inference_run", "padded") == "padded"
    # the tiny NER model has a char CNN: the tiny POS tagger's char BiLSTM runs padded too
    tagging = tiny_checkpoints("tagging")["checkpoint"]
    pos_padded, pos_packed = (nlptag.load(tagging, encoder_run=run) for run in ("padded", "packed"))
    assert pos_padded.network.embedder.char_features.inference_run == "padded"
    assert pos_packed.network.embedder.char_features.inference_run == "packed"
    sentences = ["the dog runs", "a cat", "they saw the old man with a telescope"]
    ours, theirs = pos_padded.predict(sentences), pos_packed.predict(sentences)
    assert [r["tags"] for r in ours] == [r["tags"] for r in theirs]
    for a, b in zip(ours, theirs):
        assert a["confidences"] == pytest.approx(b["confidences"], abs=1e-6)
    assert nlptag.load(checkpoint).network.encoder.inference_run == "padded"  # the default
    timed = nlptag.load(checkpoint, encoder_run="fastest").network.encoder.inference_run
    assert timed in ("packed", "padded")
    ours, theirs = padded.predict(NER, batch_size=4), packed.predict(NER, batch_size=4)
    assert [r["tags"] for r in ours] == [r["tags"] for r in theirs]
    for a, b in zip(ours, theirs):
        assert a["confidences"] == pytest.approx(b["confidences"], abs=1e-6)
    with pytest.raises(NlptagError, match="^unknown encoder_run 'dense'; expected fastest, "):
        nlptag.load(checkpoint, encoder_run="dense")


def test_entities_are_the_spans_of_the_tags_with_the_mean_confidence(ner):
    from nlptag.text.schemes import extract_chunks

    for result in ner.predict(NER):
        spans = [(e["type"], e["start"], e["end"]) for e in result["entities"]]
        assert spans == list(extract_chunks(result["tags"]))
        for entity in result["entities"]:
            assert entity["text"] == " ".join(result["tokens"][entity["start"] : entity["end"]])
            part = result["confidences"][entity["start"] : entity["end"]]
            assert entity["confidence"] == pytest.approx(sum(part) / len(part))


def test_ner_labels_are_the_data_schemes_tags(ner):
    assert ner.bundle.options == {"tag_scheme": "iobes", "data_scheme": "iob1"}
    assert ner.labels == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert all(tag in ner.labels for r in ner.predict(NER) for tag in r["tags"])


def test_class_probabilities_are_the_softmax_of_the_scores(classifier):
    results = classifier.predict(TEXTS, batch_size=2)
    for text, result in zip(TEXTS, results):
        encoded = encode_text(
            text.split(), classifier.words, classifier.chars, classifier.max_length, 30
        )
        batch = collate_classification([encoded])  # alone: no padding
        with torch.no_grad():
            expected = classifier.network.scores(batch.words, batch.chars, batch.lengths)[0]
        probabilities = expected.softmax(-1).tolist()
        assert list(result["probabilities"]) == ["neg", "pos"] == classifier.labels
        assert list(result["probabilities"].values()) == pytest.approx(probabilities, abs=1e-6)
        best = max(range(2), key=probabilities.__getitem__)
        assert result["label"] == classifier.labels[best]
        assert result["probability"] == pytest.approx(probabilities[best], abs=1e-6)


def test_tag_confidences_are_the_crf_marginals_of_the_scores(ner):
    (result,) = ner.predict(["ann met bob"])
    encoded = encode_sentence(["ann", "met", "bob"], ner.words, ner.chars, ner.max_word_length)
    batch = collate_tagging([encoded])
    with torch.no_grad():
        emissions = ner.network.scores(batch.words, batch.chars, batch.lengths)
        marginals = ner.network.head.crf.marginals(emissions, batch.mask)[0]
    tags, _ = ner.network.head.crf.viterbi(emissions, batch.mask)
    assert result["confidences"] == pytest.approx(
        [float(marginals[t, tag]) for t, tag in enumerate(tags[0].tolist())], abs=1e-6
    )


def test_empty_inputs_and_unknown_backends_are_refused(ner, classifier, tiny_checkpoints):
    with pytest.raises(NlptagError, match="^cannot tag an empty sentence$"):
        ner.predict(["ann", ""])
    with pytest.raises(NlptagError, match="^cannot classify an empty text$"):
        classifier.predict(["  "])
    checkpoint = tiny_checkpoints("ner")["checkpoint"]
    with pytest.raises(NlptagError, match="^unknown backend 'tf'; expected torch or onnx$"):
        nlptag.load(checkpoint, backend="tf")
    with pytest.raises(NlptagError, match="has no model.onnx; export it with --onnx$"):
        nlptag.load(checkpoint, backend="onnx")
    bundle = dataclasses.replace(open_bundle(checkpoint), task="parsing")
    with pytest.raises(NlptagError, match="no predictor for task 'parsing' \\(tagging, ner, "):
        predictor_class(bundle)
    assert set(PREDICTORS) == {
        "tagging",
        "ner",
        "classification",
        "language_model",
        "translation",
        "captioning",
    }


def test_generation_is_reproducible_and_never_writes_unk(tiny_checkpoints):
    generator = nlptag.load(tiny_checkpoints("language_model")["checkpoint"])
    first = generator.predict(["All", "Sp", "Zq"], length=40, seed=5)
    assert first == generator.predict(["All", "Sp", "Zq"], length=40, seed=5)
    assert first[:1] == generator.predict(["All"], length=40, seed=5)  # its own group first
    assert [len(text) for text in first] == [40, 40, 40]
    assert all(set(text) <= set(generator.vocabulary.entries) for text in first)
    assert not any("<unk>" in text for text in first)
    with pytest.raises(NlptagError, match="^every prime needs at least one character$"):
        generator.predict(["All", ""])


def test_spelling_features_are_each_spellings_features_alone(tiny_checkpoints):
    """The table holds, for each spelling, what the character module gives it alone: row 0 is
    zeros, equal lengths share a call (the groups split at group_size)."""
    for task in ("tagging", "ner"):  # a char BiLSTM and a char CNN
        embedder = nlptag.load(tiny_checkpoints(task)["checkpoint"]).network.embedder
        spellings = [[5, 6, 7], [4], [8, 9, 10], [3, 4], [7, 6, 5], [11]]
        with torch.inference_mode():
            table = embedder.spelling_features(spellings, group_size=2)
            assert table.shape == (7, embedder.char_features.output_size)
            assert table[0].eq(0).all()
            for row, spelling in enumerate(spellings, start=1):
                alone = embedder.char_features(torch.tensor([spelling]))[0]
                torch.testing.assert_close(table[row], alone, rtol=0, atol=1e-6)


class CountingCalls(torch.nn.Module):
    """Wraps a character module and counts the spellings it is given."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module, self.output_size, self.spellings = module, module.output_size, 0

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        self.spellings += chars.size(0)
        return self.module(chars)


@pytest.mark.parametrize("task", ["tagging", "ner", "classification"])
def test_predictors_compute_each_distinct_spelling_once_and_predict_the_same(
    task, tiny_checkpoints
):
    """Character features come from one table per predict call, each distinct token computed
    once; the results equal those of the network computing them from each batch's chars."""
    predictor = nlptag.load(tiny_checkpoints(task)["checkpoint"])
    inputs = TEXTS if task == "classification" else NER + ["ann saw bob", "bob met ann in rome"]
    predictor.spelling_table = lambda spellings: None  # the network's own per-batch features
    reference = predictor.predict(inputs, batch_size=2)
    del predictor.spelling_table
    embedder = predictor.network.embedder
    counting = CountingCalls(embedder.char_features)
    embedder.char_features = counting
    try:
        results = predictor.predict(inputs, batch_size=2)
    finally:
        embedder.char_features = counting.module
    split = (
        predictor.tokens
        if task == "classification"
        else lambda s: s.split() if isinstance(s, str) else s
    )
    tokens = {token for text in inputs for token in split(text)}
    assert counting.spellings == len(tokens)
    for ours, theirs in zip(results, reference, strict=True):
        if task == "classification":
            assert ours["label"] == theirs["label"]
            assert list(ours["probabilities"].values()) == pytest.approx(
                list(theirs["probabilities"].values()), abs=1e-6
            )
        else:
            assert ours["tags"] == theirs["tags"]
            assert ours["confidences"] == pytest.approx(theirs["confidences"], abs=1e-6)
