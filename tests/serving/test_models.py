"""nlptag.serving.models: what a request may ask of a bundle, which requests share a batch,
and the hash a served bundle is known by."""

import hashlib

import pytest

from nlptag.serving.models import (
    TASK_PARAMETERS,
    TASKS,
    ApiError,
    Limits,
    batch_key,
    bundle_hash,
    check_inputs,
)
from nlptag.serving.schemas import Parameters

LIMITS = Limits(max_inputs=3, max_tokens=4, max_length=50, max_beam=5)


def refusal(task: str, inputs: list, **parameters) -> tuple[int, str, str]:
    with pytest.raises(ApiError) as caught:
        check_inputs(task, inputs, Parameters(**parameters), LIMITS)
    return caught.value.status, caught.value.type, caught.value.message


def test_every_task_has_its_parameter_set():
    assert set(TASK_PARAMETERS) == set(TASKS)
    assert TASK_PARAMETERS["translation"] == {"beam", "attention"}
    assert TASK_PARAMETERS["language_model"] == {"length", "temperature", "top_k", "seed"}


@pytest.mark.parametrize("task", ["tagging", "ner", "classification"])
def test_inputs_within_the_limits_pass(task):
    check_inputs(task, ["a b c d", ["x", "y"]], Parameters(), LIMITS)  # returns, raises nothing


def test_one_input_too_many_is_413_and_says_the_limit():
    assert refusal("tagging", ["a"] * 4) == (
        413,
        "too_many_inputs",
        "4 inputs; at most 3 a request",
    )


def test_a_sentence_one_token_too_long_is_413_naming_the_input():
    status, kind, message = refusal("ner", ["a b", "a b c d e"])
    assert (status, kind) == (413, "too_many_tokens")
    assert message == "inputs[1]: 5 tokens; at most 4 a sentence"


@pytest.mark.parametrize("bad", ["", "   ", [], ["a", ""], ["a", " "]])
def test_empty_sentences_and_tokens_are_422(bad):
    status, kind, message = refusal("tagging", ["fine", bad])
    assert (status, kind, message) == (
        422,
        "invalid_input",
        "inputs[1]: an empty sentence or token",
    )


def test_a_parameter_of_another_task_is_422_naming_it():
    status, kind, message = refusal("tagging", ["a"], beam=2, seed=1)
    assert (status, kind, message) == (422, "invalid_parameter", "tagging does not take beam, seed")


def test_language_model_primes_are_non_empty_strings_and_length_is_bounded():
    check_inputs("language_model", ["ROMEO:", "x " * 10], Parameters(length=50), LIMITS)
    assert refusal("language_model", [["a"]])[2] == "inputs[0]: a prime is a string"
    assert refusal("language_model", ["ok", ""])[2] == "inputs[1]: an empty prime"
    assert refusal("language_model", ["ok"], length=51) == (
        422,
        "invalid_parameter",
        "length 51 > 50",
    )


def test_translation_beam_is_bounded():
    check_inputs("translation", ["ein Hund"], Parameters(beam=5), LIMITS)
    assert refusal("translation", ["ein Hund"], beam=6)[2] == "beam 6 > 5"


def test_requests_with_equal_parameters_share_a_batch_and_seeded_samples_never_do():
    assert batch_key("translation", Parameters(beam=3)) == batch_key(
        "translation", Parameters(beam=3)
    )
    assert batch_key("translation", Parameters(beam=3)) != batch_key(
        "translation", Parameters(beam=4)
    )
    assert batch_key("tagging", Parameters()) == batch_key("tagging", Parameters())
    assert batch_key("language_model", Parameters(seed=1)) is None
    unseeded = batch_key("language_model", Parameters(temperature=0.5))
    assert unseeded == batch_key("language_model", Parameters(temperature=0.5))


def test_bundle_hash_is_the_sha256_of_config_json_or_of_a_checkpoint_file(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_bytes(b'{"format": 2}')
    (bundle / "model.safetensors").write_bytes(b"weights")  # listed by hash in config.json
    assert bundle_hash(bundle) == hashlib.sha256(b'{"format": 2}').hexdigest()
    checkpoint = tmp_path / "best.ckpt"
    checkpoint.write_bytes(b"checkpoint bytes")
    assert bundle_hash(checkpoint) == hashlib.sha256(b"checkpoint bytes").hexdigest()
