"""The FastAPI application: versioned JSON endpoints, health, metrics and the web demo.

- ``GET /v1/models``: name, task, labels, bundle hash and quantization of each loaded model;
- ``POST /v1/models/{name}/predict``: ``{"inputs": [...], "parameters": {...}}`` ->
  ``{"outputs": [...]}``, exactly what the predictor returns for each input;
- ``GET /health`` (liveness, never behind the API key), ``GET /ready`` (503 until every bundle
  is loaded), ``GET /metrics`` (Prometheus text format);
- ``GET /``: the web demo (static files, calling only the JSON API).

Every error is ``{"error": {"type", "message"}}`` with its status; a stack trace is logged on
the server, never sent.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from nlptag.errors import NlptagError
from nlptag.serving.batcher import MicroBatcher
from nlptag.serving.metrics import ServerMetrics
from nlptag.serving.models import (
    ApiError,
    Limits,
    ServedModel,
    batch_key,
    check_inputs,
    run_predictor,
)
from nlptag.serving.schemas import (
    ErrorResponse,
    Health,
    ModelInfo,
    ModelList,
    PredictRequest,
    PredictResponse,
    Readiness,
)

log = logging.getLogger("nlptag.serving")
STATIC = Path(__file__).parent / "static"
PUBLIC_PATHS = ("/health", "/", "/favicon.ico")
"""Paths answered without the API key (the demo's static files are public too; the data they
show comes from the JSON API, which needs the key)."""


def error_response(status: int, type_: str, message: str, details: list | None = None):
    body: dict[str, Any] = {"type": type_, "message": message}
    if details is not None:
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


class RequestGuard:
    """ASGI middleware: the API key, and the request size limit before anything parses a body.

    A body larger than ``max_body_bytes`` is refused with 413, whether it announces its length
    or arrives in chunks (it is read here, up to the limit, and handed on).

    Args:
        app: the application.
        api_key: if set, every path but :data:`PUBLIC_PATHS` and ``/static/`` needs
            ``Authorization: Bearer <api_key>``.
        max_body_bytes: the largest request body.
    """

    def __init__(self, app: Any, api_key: str | None = None, max_body_bytes: int = 1_000_000):
        self.app = app
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes

    def _authorized(self, scope: dict) -> bool:
        path = scope["path"]
        if self.api_key is None or path in PUBLIC_PATHS or path.startswith("/static/"):
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                expected = f"Bearer {self.api_key}".encode()
                return hmac.compare_digest(value, expected)
        return False

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope):
            response = error_response(401, "unauthorized", "a valid 'Authorization: Bearer' key")
            await response(scope, receive, send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_large = error_response(
            413, "body_too_large", f"the request body exceeds {self.max_body_bytes} bytes"
        )
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                await too_large(scope, receive, send)
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away mid-request: nobody to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class ServerState:
    """The models being served, their batchers, and the loading progress.

    Args:
        sources: name -> bundle path, or an already loaded :class:`ServedModel`.
        max_batch_size: inputs per forward pass (1 turns micro-batching off).
        max_wait_ms: how long a batch waits for more requests.
        limits: what one request may ask for.
    """

    def __init__(
        self,
        sources: Mapping[str, Path | ServedModel],
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        limits: Limits = Limits(),
    ) -> None:
        self.sources = dict(sources)
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self.limits = limits
        self.models: dict[str, ServedModel] = {}
        self.batchers: dict[str, MicroBatcher] = {}
        self.failed: dict[str, str] = {}
        self.metrics = ServerMetrics()

    @property
    def ready(self) -> bool:
        return len(self.models) == len(self.sources)

    def add(self, model: ServedModel) -> None:
        name = model.name

        def run(inputs: list, parameters: Any) -> list:
            return run_predictor(model.predictor, inputs, parameters, self.max_batch_size)

        batcher = MicroBatcher(
            run,
            max_batch_size=self.max_batch_size,
            max_wait_ms=self.max_wait_ms,
            on_batch=lambda n: self.metrics.batch_size.observe(n, name),
            name=name,
        )
        batcher.start()
        self.batchers[name] = batcher
        self.models[name] = model

    async def load_all(self, on_error: Callable[[str, BaseException], None] | None) -> None:
        for name, source in self.sources.items():
            try:
                if isinstance(source, ServedModel):
                    model = source
                else:
                    model = await asyncio.to_thread(ServedModel.load, name, Path(source))
            except Exception as error:  # noqa: BLE001 - reported by /ready and on_error
                log.exception("cannot load %s from %s", name, source)
                self.failed[name] = f"{type(error).__name__}: {error}"
                if on_error is not None:
                    on_error(name, error)
                continue
            self.add(model)
            log.info("serving %s (%s) from %s", name, model.task, model.path)

    async def close(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()


def create_app(
    sources: Mapping[str, Path | ServedModel],
    max_batch_size: int = 32,
    max_wait_ms: float = 5.0,
    api_key: str | None = None,
    limits: Limits = Limits(),
    on_load_error: Callable[[str, BaseException], None] | None = None,
) -> FastAPI:
    """The server application.

    Args:
        sources: name -> bundle directory (or checkpoint), loaded in the background at startup
            (``/ready`` says when), or an already loaded :class:`ServedModel`.
        max_batch_size: the most inputs the micro-batcher puts in one forward pass (1: every
            request runs alone).
        max_wait_ms: how long the first request of a batch waits for others.
        api_key: if set, required as ``Authorization: Bearer`` everywhere but ``/health`` and
            the demo's static files.
        limits: the request limits (body size, inputs, tokens, generation length, beam).
        on_load_error: called when a bundle cannot be loaded (the CLI stops the server).
    """
    state = ServerState(sources, max_batch_size, max_wait_ms, limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loading = asyncio.get_running_loop().create_task(state.load_all(on_load_error))
        yield
        await loading
        await state.close()

    app = FastAPI(
        title="nlptag",
        summary="Recurrent NLP models: tagging, NER, classification, translation, generation.",
        lifespan=lifespan,
        responses={code: {"model": ErrorResponse} for code in (401, 404, 413, 422, 500, 503)},
    )
    app.state.nlptag = state
    app.add_middleware(RequestGuard, api_key=api_key, max_body_bytes=limits.max_body_bytes)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.type, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        name = request.path_params.get("name")
        if name in state.models:
            state.metrics.requests.inc(name, "422")
            state.metrics.errors.inc(name, "invalid_request")
        details = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in error.errors()
        ]
        if any(d["type"] == "json_invalid" for d in details):
            return error_response(422, "invalid_json", "the body is not valid JSON", details)
        return error_response(422, "invalid_request", "the request does not match", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, kind, str(error.detail))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.error("internal error on %s", request.url.path, exc_info=error)
        return error_response(500, "internal", "internal server error")

    @app.get("/health", response_model=Health, tags=["operations"])
    async def health() -> Health:
        """Liveness: answers while a batch runs, and without the API key."""
        return Health(status="ok")

    @app.get("/ready", response_model=Readiness, tags=["operations"])
    async def ready() -> JSONResponse:
        """200 once every bundle is loaded, 503 before (or if one failed)."""
        body = Readiness(
            ready=state.ready,
            loaded=list(state.models),
            pending=[n for n in state.sources if n not in state.models and n not in state.failed],
            failed=state.failed,
        )
        return JSONResponse(body.model_dump(), status_code=200 if state.ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        """Requests, errors, batch sizes and latency per model (Prometheus text format)."""
        return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", response_model=ModelList, tags=["models"])
    async def list_models() -> ModelList:
        """The loaded models: name, task, labels or tags, bundle hash, quantization."""
        return ModelList(
            models=[
                ModelInfo(
                    name=m.name,
                    task=m.task,
                    labels=m.labels,
                    bundle_hash=m.bundle_hash,
                    quantization=m.quantization,
                )
                for m in state.models.values()
            ]
        )

    @app.post("/v1/models/{name}/predict", response_model=PredictResponse, tags=["models"])
    async def predict(name: str, body: PredictRequest) -> Response:
        """One output per input: what the model's Python predictor returns for it. Concurrent
        requests are run together (micro-batching)."""
        if name not in state.sources:
            raise ApiError(404, "unknown_model", f"no model named {name!r}")
        if name not in state.models:
            raise ApiError(503, "not_ready", f"{name} is not loaded")
        model = state.models[name]
        start = time.perf_counter()
        status = "200"
        try:
            check_inputs(model.task, body.inputs, body.parameters, state.limits)
            outputs = await state.batchers[name].submit(
                body.inputs, body.parameters, batch_key(model.task, body.parameters)
            )
            return Response(json.dumps({"outputs": outputs}), media_type="application/json")
        except ApiError as error:
            status = str(error.status)
            state.metrics.errors.inc(name, error.type)
            raise
        except NlptagError as error:  # a message meant for users, e.g. an empty sentence
            status = "422"
            state.metrics.errors.inc(name, "invalid_input")
            raise ApiError(422, "invalid_input", str(error)) from error
        except Exception as error:
            # answered here, not re-raised: an exception escaping to uvicorn would also close
            # the client's keep-alive connection
            status = "500"
            state.metrics.errors.inc(name, "internal")
            log.error("%s: prediction failed", name, exc_info=error)
            raise ApiError(500, "internal", "internal server error") from error
        finally:
            state.metrics.requests.inc(name, status)
            state.metrics.latency.observe(time.perf_counter() - start, name)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
