"""Faults against a real server on loopback: malformed JSON, oversized bodies, clients that go
away mid-request, a model that raises, thousands of requests with invalid ones among them. The
server keeps answering the valid requests correctly."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

import nlptag
from nlptag.serving.app import create_app
from nlptag.serving.models import ServedModel
from tests.serving.conftest import running_server

pytestmark = pytest.mark.slow

SENTENCES = ["The dog runs .", "A cat sleeps", "Go", "They run .", "It is a good day ."]


class Raising:
    task = "tagging"

    def predict(self, inputs, batch_size=64):
        raise RuntimeError("boom")


def raw(port: int, data: bytes, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        if not read:
            return b""
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_the_server_survives_faults_and_keeps_answering(bundles):
    predictor = nlptag.load(bundles["tagging"])
    alone = {s: predictor.predict([s])[0] for s in SENTENCES}
    raising = ServedModel("raising", bundles["tagging"], Raising(), None, "0" * 64, None)
    app = create_app({"pos": bundles["tagging"], "raising": raising}, max_batch_size=16)
    with running_server(app) as url:
        port = int(url.rsplit(":", 1)[1])
        head = b"POST /v1/models/pos/predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        answer = raw(
            port, head + b"Content-Type: application/json\r\nContent-Length: 9\r\n\r\n{inputs:["
        )
        assert answer.startswith(b"HTTP/1.1 422") and b"invalid_json" in answer
        answer = raw(port, head + b"Content-Length: 50000000\r\n\r\n" + b"x" * 1000)
        assert answer.startswith(b"HTTP/1.1 413") and b"body_too_large" in answer
        for _ in range(20):  # announce a body, send half of it, hang up
            raw(port, head + b"Content-Length: 100\r\n\r\n" + b'{"inputs": ["a', read=False)
        for _ in range(20):  # send a whole request, hang up before the answer
            body = b'{"inputs": ["The dog runs ."]}'
            data = head + b"Content-Type: application/json\r\nContent-Length: 30\r\n\r\n" + body
            raw(port, data, read=False)

        async def load():
            limits = httpx.Limits(max_connections=16)
            async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
                gate = asyncio.Semaphore(16)

                async def one(n: int):
                    if n % 7 == 3:
                        body = {"inputs": [n]}
                    elif n % 7 == 5:
                        body = {"inputs": ["  "]}
                    else:
                        body = {"inputs": [SENTENCES[n % len(SENTENCES)]]}
                    model = "raising" if n % 11 == 0 else "pos"
                    async with gate:
                        response = await client.post(f"/v1/models/{model}/predict", json=body)
                    return n, model, body, response

                return await asyncio.gather(*(one(n) for n in range(2000)))

        results = asyncio.run(load())
        for n, model, body, response in results:
            if n % 7 in (3, 5):
                assert response.status_code == 422, n
            elif model == "raising":
                assert response.status_code == 500
                assert response.json()["error"] == {
                    "type": "internal",
                    "message": "internal server error",
                }
            else:
                assert response.status_code == 200, response.text
                (output,) = response.json()["outputs"]
                sentence = body["inputs"][0]
                assert output["tokens"] == alone[sentence]["tokens"]
                assert output["tags"] == alone[sentence]["tags"]
                assert output["confidences"] == pytest.approx(
                    alone[sentence]["confidences"], abs=1e-5
                )
        assert httpx.get(url + "/health").json() == {"status": "ok"}
        final = httpx.post(url + "/v1/models/pos/predict", json={"inputs": ["Go"]})
        assert final.json()["outputs"] == [alone["Go"]]
        metrics = httpx.get(url + "/metrics").text
        assert 'nlptag_requests_total{model="raising",code="500"}' in metrics
