"""One change measured against its parent: ``benchmarks.crf_speed`` run alternately in git
worktrees of two commits, old then new, several rounds, in one table of old / new ratios.

Both runs use this checkout's ``benchmarks/crf_speed.py`` (copied into each worktree), so the two
commits' code is measured by the same benchmark.

Alternating in one session on one machine keeps the machine's drift out of the ratios as far as
it can be; the rows the change does not touch show what drift is left.

    NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.ab_commits \
        --old 9a32a9e --new 37819f8 --rounds 2 --title "..." --out benchmarks/results/x.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import cpu_model, machine, report, today

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ("train step", "head loss", "Viterbi decode", "Viterbi + marginals")


def crf_speed_rows(worktree: Path, sentences: int) -> dict[tuple[str, str, int], float]:
    """sentences/s by (head, what, batch) from one ``benchmarks.crf_speed`` run in ``worktree``
    (its own ``nlptag`` and ``benchmarks``, imported from the worktree, not this checkout)."""
    command = [sys.executable, "-m", "benchmarks.crf_speed", "--sentences", str(sentences)]
    env = {**os.environ, "PYTHONPATH": str(worktree), "OMP_NUM_THREADS": "1"}
    if "NLPTAG_DATA_DIR" in env:  # the runs start in the worktree: a relative path would move
        env["NLPTAG_DATA_DIR"] = str(Path(env["NLPTAG_DATA_DIR"]).resolve())
    done = subprocess.run(command, cwd=worktree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ab_commits: crf_speed failed in {worktree}:\n{done.stderr[-3000:]}")
    rows = {}
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].endswith("head") and cells[1].isdigit():
            for what, value in zip(COLUMNS, cells[2:], strict=True):
                rows[(cells[0], what, int(cells[1]))] = float(value.replace(",", ""))
    if not rows:
        raise SystemExit(f"ab_commits: no table in crf_speed's output in {worktree}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the commit before the change")
    parser.add_argument("--new", required=True, help="the commit with the change")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=1024)
    parser.add_argument("--title", default="A change against its parent")
    parser.add_argument("--out", type=Path, default=None, help="write the table here")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="nlptag-ab-") as folder:
        trees = {}
        for side in ("old", "new"):
            trees[side] = Path(folder) / side
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(trees[side]), getattr(args, side)],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
            shutil.copy(REPO / "benchmarks" / "crf_speed.py", trees[side] / "benchmarks")
        try:
            for round_ in range(1, args.rounds + 1):
                for side in ("old", "new"):
                    print(f"ab_commits: round {round_}, {side}", file=sys.stderr, flush=True)
                    results[side].append(crf_speed_rows(trees[side], args.sentences))
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO)
    lines = [
        f"## {args.title}",
        "",
        f"`NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.ab_commits "
        f"--old {args.old} --new {args.new} --rounds {args.rounds} --sentences {args.sentences}`: "
        f"this checkout's `python -m benchmarks.crf_speed --sentences {args.sentences}` run "
        f"alternately in "
        f"worktrees of commit {args.old} (old) and {args.new} (new), {args.rounds} rounds; "
        f"{machine()}, {cpu_model()}; CPU seconds of the process; {today()}.",
        "",
        "| head | what, sentences/s | batch | run | old | new | new / old |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key in results["old"][0]:
        head, what, batch = key
        for run, (old, new) in enumerate(zip(results["old"], results["new"]), start=1):
            ratio = new[key] / old[key]
            lines.append(
                f"| {head} | {what} | {batch} | {run} | {old[key]:,.0f} | {new[key]:,.0f} "
                f"| {ratio:.2f} |"
            )
    report(lines, args.out)


if __name__ == "__main__":
    main()
