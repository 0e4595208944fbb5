"""Load test of ``nlptag serve``: throughput and latency with micro-batching on and off.

    python -m benchmarks.serve_load BUNDLE \
        --test-file ../shared/data/ud_en_ewt/en_ewt-ud-test.conllu \
        --out benchmarks/results/serve_load.md

Starts the server on a free 127.0.0.1 port (one process per mode: ``--max-batch-size 32`` and
``--max-batch-size 1``), then drives it with 1, 8, 32 and 64 concurrent clients, each sending
requests of ``--sentences`` sentences of the test file over one keep-alive connection, until
``--requests`` requests are answered per level. The requests take the test file's sentences in
a seeded random order (``--seed``), the same in both modes, so that every level sends a sample
of the whole file rather than its first sentences over and over. The clients are plain asyncio
sockets in this process (cheap, so that most CPU is left to the server). Talks to 127.0.0.1
only and stops by itself; every response is checked (status 200, one output per sentence).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def read_sentences(path: Path) -> list[str]:
    """The sentences of a CoNLL-U file as whitespace-joined word forms."""
    sentences, words = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if words:
                sentences.append(" ".join(words))
            words = []
        elif not line.startswith("#"):
            columns = line.split("\t")
            if columns[0].isdigit():
                words.append(columns[1].replace(" ", "_"))
    if words:
        sentences.append(" ".join(words))
    return sentences


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(bundle: Path, port: int, max_batch_size: int, max_wait_ms: float):
    command = [
        sys.executable,
        "-m",
        "nlptag.serving",
        f"pos={bundle}",
        "--port",
        str(port),
        "--max-batch-size",
        str(max_batch_size),
        "--max-wait-ms",
        str(max_wait_ms),
        "--log-level",
        "warning",
    ]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    process = subprocess.Popen(command, env=env, cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return process
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError("the server exited")
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not become ready")


async def client(port: int, bodies: list[bytes], counter: list[int], total: int, latencies):
    """One keep-alive connection sending requests until ``total`` are sent by all clients; the
    k-th request of all sends ``bodies[k % len(bodies)]``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while counter[0] < total:
        body = bodies[counter[0] % len(bodies)]
        counter[0] += 1
        request = (
            b"POST /v1/models/pos/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        start = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        payload = await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected answer: {head[:40]!r}")
        sentences = json.loads(body)["inputs"]
        if len(json.loads(payload)["outputs"]) != len(sentences):
            raise RuntimeError("wrong number of outputs")
    writer.close()
    await writer.wait_closed()


async def drive(port: int, bodies: list[bytes], clients: int, total: int) -> dict:
    latencies: list[float] = []
    counter = [0]
    start = time.perf_counter()
    await asyncio.gather(*(client(port, bodies, counter, total, latencies) for _ in range(clients)))
    elapsed = time.perf_counter() - start
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "throughput": len(latencies) / elapsed,
        "p50": quantiles[49] * 1000,
        "p95": quantiles[94] * 1000,
        "p99": quantiles[98] * 1000,
    }


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path, help="a tagger bundle (or a checkpoint, exported first)")
    p.add_argument("--test-file", type=Path, required=True, help="CoNLL-U sentences to send")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 64])
    p.add_argument("--requests", type=int, default=400, help="requests per level and mode")
    p.add_argument("--sentences", type=int, default=1, help="sentences per request")
    p.add_argument("--seed", type=int, default=0, help="order in which sentences are sent")
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--out", type=Path, help="write the markdown table here")
    args = p.parse_args(argv)

    sentences = read_sentences(args.test_file)
    k = args.sentences
    # requests of k sentences drawn from the whole file in a seeded random order: consecutive
    # requests (and so one batch) mix short and long sentences as in the file
    random.Random(args.seed).shuffle(sentences)
    bodies = [
        json.dumps({"inputs": sentences[i : i + k]}).encode()
        for i in range(0, len(sentences) - k + 1, k)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        bundle = args.bundle
        if bundle.is_file():
            from nlptag.inference.export import export

            bundle = export(bundle, Path(scratch) / "pos")
        rows = []
        for mode, size in [("micro-batched", args.max_batch_size), ("unbatched", 1)]:
            port = free_port()
            server = start_server(bundle, port, size, args.max_wait_ms)
            try:
                asyncio.run(drive(port, bodies, 4, 100))  # warm-up
                for clients in args.clients:
                    result = asyncio.run(drive(port, bodies, clients, args.requests))
                    rows.append({"mode": mode, "clients": clients, **result})
                    print(json.dumps(rows[-1]), flush=True)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)
    command = "python -m benchmarks.serve_load " + " ".join(argv or sys.argv[1:])
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    lines = [
        f"`{command}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores ({cpu_model()});"
        f" OMP_NUM_THREADS={threads}; server and clients on the same machine. "
        f"Date {date.today().isoformat()}, commit {git_commit()}. {k} sentence(s) of"
        f" {args.test_file.name} per request, in a random order (seed {args.seed}), the same for"
        f" every row; {args.requests} requests per row;"
        f" micro-batched: --max-batch-size {args.max_batch_size} --max-wait-ms {args.max_wait_ms}.",
        "",
        "| mode | clients | requests/s | p50 (ms) | p95 (ms) | p99 (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['mode']} | {row['clients']} | {row['throughput']:,.0f} | {row['p50']:.1f}"
            f" | {row['p95']:.1f} | {row['p99']:.1f} |"
        )
    by_key = {(r["mode"], r["clients"]): r for r in rows}
    lines.append("")
    for clients in args.clients:
        ratio = (
            by_key["micro-batched", clients]["throughput"]
            / by_key["unbatched", clients]["throughput"]
        )
        lines.append(f"- {clients} clients: micro-batched / unbatched throughput = {ratio:.2f}x")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
