"""Bundles of tiny models of every task (exported once a session), and a running server helper."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e .[serve]")

from nlptag.cli import main  # noqa: E402
from nlptag.inference.export import export  # noqa: E402
from tests.test_translation import CONFIG, write_pairs  # noqa: E402


@pytest.fixture(scope="session")
def bundles(tiny_checkpoints, tmp_path_factory) -> dict[str, Path]:
    """task -> bundle directory named after the task, for the five tasks."""
    root = tmp_path_factory.mktemp("serving_bundles")
    made = {}
    for task in ("tagging", "ner", "classification", "language_model"):
        made[task] = export(tiny_checkpoints(task)["checkpoint"], root / task)
    data = root / "mt_data"
    data.mkdir()
    write_pairs(data / "train", 120, seed=0)
    write_pairs(data / "dev", 10, seed=1)
    config = root / "mt.yaml"
    config.write_text(CONFIG.format(epochs=1, data=data))
    run = root / "mt_run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NLPTAG_OFFLINE", "1")
        status = main(
            ["fit", "--config", str(config), "--trainer.default_root_dir", str(run)]
            + ["--trainer.logger=false", "--trainer.enable_model_summary=false"]
        )
    assert status == 0
    made["translation"] = export(run / "checkpoints" / "last.ckpt", root / "translation")
    return made


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(app, port: int | None = None) -> Iterator[str]:
    """Runs ``app`` with uvicorn on a loopback port in a thread; yields its base URL once
    ``/ready`` answers 200, and stops it gracefully afterwards."""
    import httpx
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not become ready")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
