"""Micro-batching: concurrent requests share forward passes, results go back in order, a bad
request never poisons a batch, and the event loop answers while a batch runs."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

import nlptag
from nlptag.serving.app import create_app
from nlptag.serving.batcher import MicroBatcher
from nlptag.serving.models import ServedModel


class CountingPredictor:
    """Wraps a predictor: counts ``predict`` calls (one forward pass each, as the server calls it
    with ``batch_size`` = the batch), records their sizes, and can hold them until released."""

    def __init__(self, inner, hold: threading.Event | None = None) -> None:
        self.inner = inner
        self.task = inner.task
        self.calls: list[int] = []
        self.batches: list[list] = []
        self.hold = hold
        self.running = threading.Event()

    def predict(self, inputs, batch_size=64, **options):
        self.calls.append(len(inputs))
        self.batches.append(list(inputs))
        self.running.set()
        if self.hold is not None:
            assert self.hold.wait(30)
        assert batch_size >= len(inputs)  # one forward pass for the whole batch
        return self.inner.predict(inputs, batch_size=batch_size, **options)


def served(bundle, predictor) -> ServedModel:
    return ServedModel("tagging", bundle, predictor, None, "0" * 64, None)


async def lifespan_client(app):
    """An httpx client on the app, after its lifespan started and the models loaded."""
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://test")
    for _ in range(3000):
        if (await client.get("/ready")).status_code == 200:
            return client
        await asyncio.sleep(0.01)
    raise AssertionError("not ready")


def run_with_app(app, scenario):
    async def main():
        async with app.router.lifespan_context(app):
            client = await lifespan_client(app)
            try:
                return await scenario(client)
            finally:
                await client.aclose()

    return asyncio.run(main())


SENTENCES = [
    "The dog runs .",
    "A cat sleeps",
    "Go",
    "The quick brown fox jumps over the lazy dog .",
    "They run .",
    "It is a good day today .",
    "Dogs",
    "The man saw the dog with the telescope .",
]


def test_concurrent_requests_share_forward_passes_in_order(bundles):
    predictor = nlptag.load(bundles["tagging"])
    counting = CountingPredictor(predictor)
    app = create_app({"tagging": served(bundles["tagging"], counting)}, 64, max_wait_ms=200)
    requests = [SENTENCES[i : i + 1 + i % 3] for i in range(len(SENTENCES))]  # 1-3 inputs each

    async def scenario(client):
        responses = await asyncio.gather(
            *(client.post("/v1/models/tagging/predict", json={"inputs": r}) for r in requests)
        )
        return [r.json()["outputs"] for r in responses]

    outputs = run_with_app(app, scenario)
    assert counting.calls == [sum(len(r) for r in requests)]  # 8 requests, one forward pass
    # exactly what predict gives for the batch, each request's slice back to its caller
    assert counting.batches == [[s for r in requests for s in r]]
    assert [o for output in outputs for o in output] == predictor.predict(counting.batches[0])
    for request, output in zip(requests, outputs):
        assert [o["tokens"] for o in output] == [s.split() for s in request]
        assert_close(output, predictor.predict(request))


def assert_close(served: list[dict], alone: list[dict]) -> None:
    """Outputs of a batch against the same inputs predicted alone: the same tags; confidences
    to float32 rounding (other sentences in the batch change the padded shapes, hence the
    order of the float sums)."""
    assert [o["tags"] for o in served] == [o["tags"] for o in alone]
    for a, b in zip(served, alone):
        assert a["confidences"] == pytest.approx(b["confidences"], abs=1e-5)


def test_max_batch_size_splits_batches_and_one_means_unbatched(bundles):
    predictor = nlptag.load(bundles["tagging"])
    for max_batch_size, expected in [(3, [3, 3, 2]), (1, [1] * 8)]:
        counting = CountingPredictor(predictor)
        app = create_app(
            {"tagging": served(bundles["tagging"], counting)}, max_batch_size, max_wait_ms=200
        )

        async def scenario(client):
            responses = await asyncio.gather(
                *(
                    client.post("/v1/models/tagging/predict", json={"inputs": [s]})
                    for s in SENTENCES
                )
            )
            return [r.json()["outputs"][0] for r in responses]

        outputs = run_with_app(app, scenario)
        assert counting.calls == expected
        assert [s for batch in counting.batches for s in batch] == SENTENCES
        expected_outputs = [o for batch in counting.batches for o in predictor.predict(batch)]
        assert outputs == expected_outputs
        if max_batch_size == 1:
            assert outputs == [predictor.predict([s])[0] for s in SENTENCES]


def test_invalid_requests_never_join_a_batch(bundles):
    predictor = nlptag.load(bundles["tagging"])
    counting = CountingPredictor(predictor)
    app = create_app({"tagging": served(bundles["tagging"], counting)}, 64, max_wait_ms=200)
    bodies = [
        {"inputs": ["The dog runs ."]},
        {"inputs": [" "]},
        {"inputs": [7]},
        {"inputs": ["A cat sleeps"]},
        {"inputs": ["x"], "parameters": {"beam": 2}},
        {"inputs": ["Go"]},
    ]

    async def scenario(client):
        return await asyncio.gather(
            *(client.post("/v1/models/tagging/predict", json=b) for b in bodies)
        )

    responses = run_with_app(app, scenario)
    assert [r.status_code for r in responses] == [200, 422, 422, 200, 422, 200]
    assert counting.batches == [["The dog runs .", "A cat sleeps", "Go"]]
    valid = [o for r in responses if r.status_code == 200 for o in r.json()["outputs"]]
    assert valid == predictor.predict(counting.batches[0])


def test_a_failing_batch_is_rerun_request_by_request():
    """Should a bad input get past the checks, only its own request fails."""
    calls = []

    def run(inputs, parameters):
        calls.append(list(inputs))
        if "bad" in inputs:
            raise ValueError("bad input")
        return [x.upper() for x in inputs]

    async def main():
        batcher = MicroBatcher(run, max_batch_size=16, max_wait_ms=100)
        batcher.start()
        results = await asyncio.gather(
            batcher.submit(["a", "b"], None, "k"),
            batcher.submit(["bad"], None, "k"),
            batcher.submit(["c"], None, "k"),
            return_exceptions=True,
        )
        await batcher.stop()
        return results

    first, second, third = asyncio.run(main())
    assert first == ["A", "B"] and third == ["C"]
    assert isinstance(second, ValueError)
    assert calls == [["a", "b", "bad", "c"], ["a", "b"], ["bad"], ["c"]]


def test_requests_that_come_one_at_a_time_do_not_wait():
    """The wait is for requests that come together: while they come one at a time each runs at
    once; two at once turn the wait on (for them and the next request); a batch of one turns
    it off again."""
    calls = []

    def run(inputs, parameters):
        calls.append(list(inputs))
        return inputs

    async def timed(batcher, inputs):
        start = time.perf_counter()
        await batcher.submit(inputs, None, "k")
        return time.perf_counter() - start

    async def main():
        batcher = MicroBatcher(run, max_batch_size=16, max_wait_ms=1000)
        batcher.start()
        lone = [await timed(batcher, [x]) for x in "abc"]
        together = await asyncio.gather(timed(batcher, ["d"]), timed(batcher, ["e"]))
        after = [await timed(batcher, [x]) for x in "fg"]
        await batcher.stop()
        return lone, together, after

    lone, together, (waits, alone_again) = asyncio.run(main())
    assert calls == [["a"], ["b"], ["c"], ["d", "e"], ["f"], ["g"]]
    assert max(lone) < 0.5  # far below the 1 s wait
    assert min(together) >= 0.95  # two came at once: they wait for others to join
    assert waits >= 0.95  # the last batch had two requests
    assert alone_again < 0.5  # the last batch had one


def test_only_equal_parameters_share_a_pass_and_none_never_shares():
    calls = []

    def run(inputs, parameters):
        calls.append((parameters, list(inputs)))
        return [f"{x}{parameters}" for x in inputs]

    async def main():
        batcher = MicroBatcher(run, max_batch_size=16, max_wait_ms=100)
        batcher.start()
        results = await asyncio.gather(
            batcher.submit(["a"], 1, 1),
            batcher.submit(["b"], 2, 2),
            batcher.submit(["c"], 1, 1),
            batcher.submit(["d"], 1, None),
            batcher.submit(["e"], 1, None),
        )
        await batcher.stop()
        return results

    assert asyncio.run(main()) == [["a1"], ["b2"], ["c1"], ["d1"], ["e1"]]
    assert calls == [(1, ["a", "c"]), (2, ["b"]), (1, ["d"]), (1, ["e"])]
    assert len(calls) == 4


def test_health_answers_while_a_batch_runs(bundles):
    predictor = nlptag.load(bundles["tagging"])
    hold = threading.Event()
    counting = CountingPredictor(predictor, hold=hold)
    app = create_app({"tagging": served(bundles["tagging"], counting)}, 64, max_wait_ms=0)

    async def scenario(client):
        pending = asyncio.ensure_future(
            client.post("/v1/models/tagging/predict", json={"inputs": ["The dog runs ."]})
        )
        while not counting.running.is_set():
            await asyncio.sleep(0.005)
        health = await asyncio.wait_for(client.get("/health"), 5)
        models = await asyncio.wait_for(client.get("/v1/models"), 5)
        assert not pending.done()  # the batch is still running
        hold.set()
        return health, models, await pending

    health, models, response = run_with_app(app, scenario)
    assert health.json() == {"status": "ok"}
    assert models.json()["models"][0]["name"] == "tagging"
    assert response.json()["outputs"] == predictor.predict(["The dog runs ."])


def test_seeded_samples_are_not_batched_and_equal_predict(bundles):
    predictor = nlptag.load(bundles["language_model"])
    counting = CountingPredictor(predictor)
    model = ServedModel("lm", bundles["language_model"], counting, None, "0" * 64, None)
    app = create_app({"lm": model}, 64, max_wait_ms=200)
    bodies = [
        {"inputs": ["All", "Sp"], "parameters": {"length": 15, "seed": 1}},
        {"inputs": ["All"], "parameters": {"length": 15, "seed": 2}},
    ]

    async def scenario(client):
        return await asyncio.gather(*(client.post("/v1/models/lm/predict", json=b) for b in bodies))

    responses = run_with_app(app, scenario)
    assert counting.calls == [2, 1]
    for body, response in zip(bodies, responses):
        expected = predictor.predict(body["inputs"], **body["parameters"])
        assert response.json()["outputs"] == expected


@pytest.mark.parametrize("size, wait", [(0, 1.0), (4, -1.0)])
def test_batcher_arguments_are_checked(size, wait):
    with pytest.raises(ValueError):
        MicroBatcher(lambda inputs, parameters: inputs, max_batch_size=size, max_wait_ms=wait)
