"""``nlptag serve BUNDLE [BUNDLE...]``: run the HTTP server (uvicorn) on loopback by default."""

from __future__ import annotations

import argparse
import logging
import os
import signal
from pathlib import Path

API_KEY_ENV = "NLPTAG_API_KEY"


def model_sources(paths: list[str]) -> dict[str, Path]:
    """name -> path: ``NAME=PATH`` arguments keep their name, others are named after their
    directory (a checkpoint after its run directory, e.g. ``runs/demo/checkpoints/best.ckpt``
    is ``demo``)."""
    sources: dict[str, Path] = {}
    for argument in paths:
        name, sep, path_text = argument.partition("=")
        if not sep:
            name, path_text = "", argument
        path = Path(path_text)
        if not path.exists():
            raise SystemExit(f"nlptag serve: error: {path} does not exist")
        if not name:
            is_checkpoint = path.is_file() and path.parent.name == "checkpoints"
            name = path.parent.parent.name if is_checkpoint else path.resolve().name
        if name in sources:
            raise SystemExit(f"nlptag serve: error: two models named {name!r}; use NAME=PATH")
        sources[name] = path
    return sources


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nlptag serve",
        description="Serve bundles over HTTP: JSON API under /v1, web demo at /, "
        "OpenAPI page at /docs.",
    )
    p.add_argument(
        "bundles",
        nargs="+",
        metavar="BUNDLE",
        help="a bundle directory (or checkpoint), served under its directory name; "
        "NAME=PATH to choose the name",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    p.add_argument(
        "--max-batch-size",
        type=int,
        default=32,
        help="most inputs in one forward pass; 1 turns micro-batching off (default: 32)",
    )
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=5.0,
        help="how long a batch waits for more requests (default: 5)",
    )
    p.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}, if set)",
    )
    p.add_argument("--max-body-bytes", type=int, default=1_000_000, help="largest request body")
    p.add_argument("--max-inputs", type=int, default=64, help="most inputs in one request")
    p.add_argument("--max-tokens", type=int, default=256, help="most tokens in one sentence")
    p.add_argument("--max-length", type=int, default=1000, help="most characters generated")
    p.add_argument("--max-beam", type=int, default=16, help="largest translation beam")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def serve_main(argv: list[str]) -> int:
    """serve bundles over HTTP (JSON API, web demo)

    Entry point of ``nlptag serve``; returns 0 after a graceful stop (SIGTERM or Ctrl-C),
    1 if a bundle could not be loaded."""
    args = parser().parse_args(argv)
    if args.max_batch_size < 1 or args.max_wait_ms < 0:
        raise SystemExit("nlptag serve: error: --max-batch-size >= 1 and --max-wait-ms >= 0")
    sources = model_sources(args.bundles)

    import uvicorn

    from nlptag.serving.app import create_app
    from nlptag.serving.models import Limits

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    failures: list[str] = []
    server: uvicorn.Server | None = None

    def stop_on_load_error(name: str, error: BaseException) -> None:
        failures.append(name)
        if server is not None:
            server.should_exit = True

    app = create_app(
        sources,
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        api_key=args.api_key or None,
        limits=Limits(
            max_body_bytes=args.max_body_bytes,
            max_inputs=args.max_inputs,
            max_tokens=args.max_tokens,
            max_length=args.max_length,
            max_beam=args.max_beam,
        ),
        on_load_error=stop_on_load_error,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=30,
    )
    server = uvicorn.Server(config)
    # uvicorn stops gracefully on SIGTERM/SIGINT (no new connections, in-flight requests
    # finished), then re-raises the signal with the handler it found: make that one a no-op so
    # that a requested stop exits with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    server.run()
    if failures:
        print(f"nlptag serve: error: could not load {', '.join(failures)}")
        return 1
    return 0
