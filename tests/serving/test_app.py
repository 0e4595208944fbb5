"""The JSON API: outputs equal the predictor's, model list, errors as JSON, auth, limits,
metrics, OpenAPI schemas."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import torch
from fastapi.testclient import TestClient

import nlptag
from nlptag.serving.app import create_app
from nlptag.serving.models import Limits, ServedModel

INPUTS = {
    "tagging": ["The dog runs .", ["A", "zebra", "sleeps", "quietly", "today", "."], ["Go"]],
    "ner": ["ann met bob in paris", ["rome"], "the unknownword saw ann today in rome"],
    "classification": ["w1 great w2", "w3 w4", "great", ["w1", "w1", "w2", "zzz"]],
    "translation": ["eins zwei Hund", ["rot", "Haus"]],
}


def wait_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 60
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, client.get("/ready").json()
        time.sleep(0.02)


@pytest.fixture(scope="module")
def client(bundles):
    app = create_app(dict(bundles), limits=Limits(max_inputs=8, max_tokens=12, max_length=50))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.fixture(scope="module")
def predictors(bundles):
    return {task: nlptag.load(path) for task, path in bundles.items()}


def predict(client, name, inputs, **parameters):
    return client.post(
        f"/v1/models/{name}/predict", json={"inputs": inputs, "parameters": parameters}
    )


@pytest.mark.parametrize("task", ["tagging", "ner", "classification", "translation"])
def test_outputs_are_the_predictors(client, predictors, task):
    response = predict(client, task, INPUTS[task])
    assert response.status_code == 200
    assert response.json() == {"outputs": predictors[task].predict(INPUTS[task])}


def test_parameters_reach_the_predictor(client, predictors):
    lm = predict(client, "language_model", ["All", "Sp"], length=20, seed=3, temperature=0.7)
    expected = predictors["language_model"].predict(
        ["All", "Sp"], length=20, seed=3, temperature=0.7
    )
    assert lm.json() == {"outputs": expected} and [len(t) for t in expected] == [20, 20]
    greedy = predict(client, "translation", INPUTS["translation"], beam=1)
    assert greedy.json()["outputs"] == predictors["translation"].predict(
        INPUTS["translation"], beam_size=1
    )
    attention = predict(client, "translation", ["eins zwei Hund"], attention=True, beam=2)
    expected = predictors["translation"].attention("eins zwei Hund", beam_size=2)
    (served,) = attention.json()["outputs"]
    assert served["translation"] == expected["translation"]
    assert served["source_tokens"] == expected["source_tokens"]
    assert served["output_tokens"] == expected["output_tokens"]
    assert torch.tensor(served["weights"]).equal(expected["weights"])


def test_model_list(client, bundles, predictors):
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(models) == set(bundles)
    tagger = models["tagging"]
    digest = hashlib.sha256((bundles["tagging"] / "config.json").read_bytes()).hexdigest()
    assert tagger == {
        "name": "tagging",
        "task": "tagging",
        "labels": predictors["tagging"].labels,
        "bundle_hash": digest,
        "quantization": None,
    }
    assert models["classification"]["labels"] == predictors["classification"].labels
    assert models["language_model"]["labels"] is None
    assert {m["task"] for m in models.values()} == set(bundles)


@pytest.mark.parametrize(
    "name, body, status, kind",
    [
        ("nope", {"inputs": ["a b"]}, 404, "unknown_model"),
        ("tagging", {"inputs": [3]}, 422, "invalid_request"),
        ("tagging", {"inputs": []}, 422, "invalid_request"),
        ("tagging", {"inputs": ["a"], "extra": 1}, 422, "invalid_request"),
        ("tagging", {"inputs": [" "]}, 422, "invalid_input"),
        ("tagging", {"inputs": [["a", ""]]}, 422, "invalid_input"),
        ("tagging", {"inputs": ["a"], "parameters": {"beam": 2}}, 422, "invalid_parameter"),
        ("tagging", {"inputs": ["a"] * 9}, 413, "too_many_inputs"),
        ("tagging", {"inputs": ["a " * 13]}, 413, "too_many_tokens"),
        ("language_model", {"inputs": [["A", "l"]]}, 422, "invalid_input"),
        ("language_model", {"inputs": [""]}, 422, "invalid_input"),
        (
            "language_model",
            {"inputs": ["A"], "parameters": {"length": 51}},
            422,
            "invalid_parameter",
        ),
        (
            "language_model",
            {"inputs": ["A"], "parameters": {"temperature": 0}},
            422,
            "invalid_request",
        ),
        ("translation", {"inputs": ["eins"], "parameters": {"beam": 17}}, 422, "invalid_parameter"),
    ],
)
def test_errors_are_json_with_their_status(client, name, body, status, kind):
    response = client.post(f"/v1/models/{name}/predict", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == kind
    assert "Traceback" not in response.text


def test_malformed_json_oversized_body_unknown_path(client):
    response = client.post(
        "/v1/models/tagging/predict",
        content=b'{"inputs": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["error"]["type"] == "invalid_json"
    big = json.dumps({"inputs": ["a " * 600_000]})
    response = client.post(
        "/v1/models/tagging/predict", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["error"]["type"] == "body_too_large"

    def chunks():  # no Content-Length: the limit is counted as the body arrives
        for _ in range(20):
            yield b" " * 100_000

    response = client.post("/v1/models/tagging/predict", content=chunks())
    assert response.status_code == 413
    response = client.get("/v2/nothing")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"
    assert client.get("/health").json() == {"status": "ok"}


def test_a_model_that_raises_answers_500_without_a_trace(bundles, predictors):
    class Broken:
        task = "tagging"

        def predict(self, inputs, batch_size=64):
            raise RuntimeError("secret internal detail")

    broken = ServedModel("broken", bundles["tagging"], Broken(), None, "0" * 64, None)
    app = create_app({"broken": broken, "tagging": bundles["tagging"]})
    with TestClient(app, raise_server_exceptions=False) as test_client:
        wait_ready(test_client)
        response = predict(test_client, "broken", ["a b"])
        assert response.status_code == 500
        assert response.json() == {
            "error": {"type": "internal", "message": "internal server error"}
        }
        assert "secret" not in response.text
        good = predict(test_client, "tagging", ["The dog runs ."])
        assert good.json()["outputs"] == predictors["tagging"].predict(["The dog runs ."])
        metrics = test_client.get("/metrics").text
    assert 'nlptag_requests_total{model="broken",code="500"} 1' in metrics
    assert 'nlptag_errors_total{model="broken",kind="internal"} 1' in metrics


def test_api_key_everywhere_but_health(bundles):
    app = create_app({"tagging": bundles["tagging"]}, api_key="s3cret")
    with TestClient(app, raise_server_exceptions=False) as test_client:
        assert test_client.get("/health").status_code == 200
        assert test_client.get("/").status_code == 200  # the demo page itself holds no data
        for path in ("/ready", "/metrics", "/v1/models", "/openapi.json"):
            response = test_client.get(path)
            assert response.status_code == 401, path
            assert response.json()["error"]["type"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
            wrong = test_client.get(path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        response = predict(test_client, "tagging", ["a"])
        assert response.status_code == 401
        key = {"Authorization": "Bearer s3cret"}
        deadline = time.monotonic() + 60
        while test_client.get("/ready", headers=key).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        response = test_client.post(
            "/v1/models/tagging/predict", json={"inputs": ["The dog"]}, headers=key
        )
        assert response.status_code == 200 and len(response.json()["outputs"]) == 1


def test_metrics_count_requests_batches_and_latency(bundles):
    app = create_app({"tagging": bundles["tagging"]}, max_batch_size=4)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        wait_ready(test_client)
        assert predict(test_client, "tagging", ["a b", "c"]).status_code == 200
        assert predict(test_client, "tagging", ["a b c"]).status_code == 200
        assert predict(test_client, "tagging", [" "]).status_code == 422
        text = test_client.get("/metrics").text
    lines = set(text.splitlines())
    assert 'nlptag_requests_total{model="tagging",code="200"} 2' in lines
    assert 'nlptag_requests_total{model="tagging",code="422"} 1' in lines
    assert 'nlptag_errors_total{model="tagging",kind="invalid_input"} 1' in lines
    assert 'nlptag_batch_size_bucket{model="tagging",le="1"} 1' in lines
    assert 'nlptag_batch_size_bucket{model="tagging",le="2"} 2' in lines
    assert 'nlptag_batch_size_count{model="tagging"} 2' in lines
    assert 'nlptag_batch_size_sum{model="tagging"} 3' in lines
    assert 'nlptag_request_latency_seconds_count{model="tagging"} 3' in lines
    assert "# TYPE nlptag_request_latency_seconds histogram" in lines


def test_ready_reports_a_bundle_that_fails_to_load(bundles, tmp_path):
    failures = []
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    app = create_app(
        {"tagging": bundles["tagging"], "broken": broken},
        on_load_error=lambda name, error: failures.append(name),
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        deadline = time.monotonic() + 60
        while "tagging" not in test_client.get("/ready").json()["loaded"] or not failures:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        response = test_client.get("/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["ready"] is False and body["loaded"] == ["tagging"] and body["pending"] == []
        assert list(body["failed"]) == ["broken"]
        assert predict(test_client, "broken", ["a"]).status_code == 503
    assert failures == ["broken"]


def test_openapi_uses_the_request_models(client):
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/models/{name}/predict"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/PredictRequest"}
    components = schema["components"]["schemas"]
    assert set(components["PredictRequest"]["properties"]) == {"inputs", "parameters"}
    assert {"beam", "length", "temperature", "top_k", "seed", "attention"} == set(
        components["Parameters"]["properties"]
    )
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/PredictResponse"}
    assert operation["responses"]["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }


def test_demo_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("/static/demo.js", "/static/demo.css"):
        assert asset in page.text
        assert client.get(asset).status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from elsewhere
