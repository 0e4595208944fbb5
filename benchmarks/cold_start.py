"""Cold start: whole processes timed on one machine in one run, against a bare ``import torch``.

    python -m benchmarks.cold_start BUNDLE [--repeat 7] [--before-tree DIR]

Times (median wall seconds of ``--repeat`` runs, interleaved so load changes hit all alike):

- ``python -c "import torch"``;
- ``python -m nlptag.cli tag BUNDLE --text "..."`` (the CLI's first prediction);
- ``python -c "import nlptag; nlptag.load(BUNDLE).predict([...])"`` (the Python API's);

and prints each one's ratio to the bare torch import. ``--before-tree`` also times the two
nlptag commands with another checkout of nlptag first on ``PYTHONPATH`` (e.g. a worktree of an
older commit), so before and after are measured side by side; the bundle must be one that both
versions read.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import cpu_model, today

SENTENCE = "The quick brown fox jumps over the lazy dog ."


def commands(bundle: str) -> dict[str, list[str]]:
    api = f"import nlptag; nlptag.load({bundle!r}).predict([{SENTENCE!r}])"
    return {
        "import torch": [sys.executable, "-c", "import torch"],
        "nlptag tag BUNDLE --text": [
            sys.executable,
            "-m",
            "nlptag.cli",
            "tag",
            bundle,
            "--text",
            SENTENCE,
        ],
        "nlptag.load + predict": [sys.executable, "-c", api],
    }


def wall(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run, started in the checkout that ``PYTHONPATH`` names (the working
    directory comes first on ``sys.path``)."""
    start = time.perf_counter()
    cwd = env["PYTHONPATH"]
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="a bundle directory (or checkpoint) to predict with")
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--before-tree", help="another nlptag checkout to time beside this one")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env.pop("PYTHONPATH", None)
    here = str(Path(__file__).resolve().parents[1])
    variants = {"after": {**env, "PYTHONPATH": here}}
    if args.before_tree:
        variants["before"] = {**env, "PYTHONPATH": str(Path(args.before_tree).resolve())}
    runs: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for variant, variant_env in variants.items():
            for name, command in commands(args.bundle).items():
                if name == "import torch" and variant != "after":
                    continue
                runs.setdefault((variant, name), []).append(wall(command, variant_env))
    torch_time = statistics.median(runs[("after", "import torch")])
    cpu = cpu_model()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=here
    ).stdout.strip()
    lines = [
        f"# cold start, {today()}, {cpu}, {os.cpu_count()} cores, commit {commit}",
        f"# median of {args.repeat} runs each, wall seconds; bundle {args.bundle}",
        "| code | command | seconds | ratio to `import torch` |",
        "| --- | --- | ---: | ---: |",
    ]
    for (variant, name), times in runs.items():
        median = statistics.median(times)
        lines.append(f"| {variant} | `{name}` | {median:.2f} | {median / torch_time:.2f} |")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
