import pytest
from pydantic import ValidationError

from nlptag.serving.schemas import (
    Attention,
    Classification,
    EntitySentence,
    Parameters,
    PredictRequest,
    PredictResponse,
    TaggedSentence,
)


def error_types(excinfo) -> list[tuple[tuple, str]]:
    return [(error["loc"], error["type"]) for error in excinfo.value.errors()]


def test_a_request_takes_strings_and_token_lists_and_defaults_its_parameters():
    request = PredictRequest.model_validate({"inputs": ["The dog .", ["The", "dog", "."]]})
    assert request.inputs == ["The dog .", ["The", "dog", "."]]
    assert request.parameters.model_dump() == {
        "beam": None,
        "attention": False,
        "length": None,
        "temperature": None,
        "top_k": None,
        "seed": None,
    }


def test_a_request_needs_an_input_and_refuses_unknown_fields():
    with pytest.raises(ValidationError) as info:
        PredictRequest.model_validate({"inputs": []})
    assert error_types(info) == [(("inputs",), "too_short")]
    with pytest.raises(ValidationError) as info:
        PredictRequest.model_validate({"inputs": ["x"], "parameters": {"beams": 2}, "id": 1})
    assert sorted(error_types(info)) == [
        (("id",), "extra_forbidden"),
        (("parameters", "beams"), "extra_forbidden"),
    ]


@pytest.mark.parametrize(
    ("field", "bad", "error", "good"),
    [
        ("beam", 0, "greater_than_equal", 1),
        ("length", 0, "greater_than_equal", 1),
        ("top_k", 0, "greater_than_equal", 1),
        ("temperature", 0.0, "greater_than", 0.01),
    ],
)
def test_parameter_bounds(field, bad, error, good):
    with pytest.raises(ValidationError) as info:
        Parameters.model_validate({field: bad})
    assert error_types(info) == [((field,), error)]
    assert getattr(Parameters.model_validate({field: good}), field) == good


def test_each_output_kind_is_read_as_its_own_model_and_dumps_back_unchanged():
    tagged = {"tokens": ["a", "b"], "tags": ["X", "Y"], "confidences": [0.5, 1.0]}
    entities = {
        **tagged,
        "entities": [{"type": "PER", "start": 0, "end": 2, "text": "a b", "confidence": 0.25}],
    }
    classified = {"label": "pos", "probability": 0.75, "probabilities": {"pos": 0.75, "neg": 0.25}}
    attention = {
        "translation": "hallo",
        "source_tokens": ["hello", "</s>"],
        "output_tokens": ["hallo", "</s>"],
        "weights": [[0.9, 0.1], [0.2, 0.8]],
    }
    outputs = [entities, tagged, classified, attention, "ein Hund"]
    response = PredictResponse.model_validate({"outputs": outputs})
    kinds = [type(output) for output in response.outputs]
    assert kinds == [EntitySentence, TaggedSentence, Classification, Attention, str]
    assert response.model_dump() == {"outputs": outputs}
