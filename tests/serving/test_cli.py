"""``nlptag serve`` as a process: model names, graceful SIGTERM, what the server imports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from nlptag.cli import TOOLS
from nlptag.serving.cli import model_sources, serve_main
from tests.conftest import REPO
from tests.serving.conftest import free_port

HEAVY = ("pytorch_lightning", "lightning_fabric", "torchmetrics", "datasets", "sacrebleu")


def test_models_are_named_after_their_directory(tmp_path):
    (tmp_path / "pos").mkdir()
    run = tmp_path / "demo" / "checkpoints"
    run.mkdir(parents=True)
    (run / "best.ckpt").write_bytes(b"")
    sources = model_sources(
        [str(tmp_path / "pos"), str(run / "best.ckpt"), f"x={tmp_path / 'pos'}"]
    )
    assert sources == {"pos": tmp_path / "pos", "demo": run / "best.ckpt", "x": tmp_path / "pos"}
    with pytest.raises(SystemExit, match="two models named 'pos'"):
        model_sources([str(tmp_path / "pos"), str(tmp_path / "pos")])
    with pytest.raises(SystemExit, match="does not exist"):
        model_sources([str(tmp_path / "missing")])
    assert TOOLS["serve"] is serve_main


def test_the_serving_modules_import_no_training_library():
    code = (
        "import sys, nlptag.serving.app, nlptag.serving.cli;"
        " print([m for m in %r if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code % (HEAVY,)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.replace("'", '"')) == []


def test_loading_a_bundle_imports_no_training_library(bundles):
    code = (
        "import sys; from pathlib import Path; from nlptag.serving.models import ServedModel;"
        f"ServedModel.load('t', Path({str(bundles['tagging'])!r}));"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.replace("'", '"')) == []


def start(bundle, port: int, *options: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "nlptag.serving", f"pos={bundle}", "--port", str(port)]
    process = subprocess.Popen(
        [*command, *options], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(
                f"http://127.0.0.1:{port}/ready", headers={"Authorization": "Bearer k"}, timeout=2
            )
            if ready.status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        time.sleep(0.1)
    process.kill()
    raise AssertionError("not ready")


def test_sigterm_finishes_in_flight_requests_and_exits_0(bundles):
    port = free_port()
    # a long wait keeps the request in flight when SIGTERM arrives
    process = start(bundles["tagging"], port, "--max-wait-ms", "1500", "--api-key", "k")
    url = f"http://127.0.0.1:{port}"
    assert httpx.get(url + "/health").status_code == 200
    answers = []

    def request():
        answers.append(
            httpx.post(
                url + "/v1/models/pos/predict",
                json={"inputs": ["The dog runs ."]},
                headers={"Authorization": "Bearer k"},
                timeout=30,
            )
        )

    thread = threading.Thread(target=request)
    thread.start()
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    thread.join(30)
    assert process.wait(timeout=30) == 0
    (answer,) = answers
    assert answer.status_code == 200 and answer.json()["outputs"][0]["tokens"][1] == "dog"
    with pytest.raises(httpx.ConnectError):  # no longer accepting
        httpx.get(url + "/health", timeout=2)


def test_a_bundle_that_cannot_load_stops_the_server_with_status_1(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    command = [sys.executable, "-m", "nlptag.serving", str(broken), "--port", str(free_port())]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "could not load broken" in result.stdout
    assert "Traceback" in result.stderr  # logged for the operator, on the server side
