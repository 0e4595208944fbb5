"""Whether a change moved a config's score beyond run-to-run spread: the runs of a results TSV
at the commits before a change against those after it, seed by seed, with exact permutation
tests (no distribution assumed).

- paired: over the seeds run on both sides, the mean of the (after - before) differences, and
  the share of the 2^n sign flips of those differences whose mean is at least as far from 0;
- unpaired: all runs of each side, the difference of the means, and the share of the ways of
  splitting the pooled runs into groups of the same sizes whose difference is at least as far
  from 0.

Each p-value is two-sided and counts the observed arrangement itself.

    python -m benchmarks.seed_comparison --results benchmarks/results/sentiment.tsv \
        --config configs/sentiment/sst2.yaml --metric val/acc \
        --before 1fdf3f3 --since 2026-12-07 --out benchmarks/results/x.md

``--after`` names the commits after the change; without it, every other commit's runs are
after it (``--since`` keeps earlier runs, on other machines, out of both sides).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import statistics
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import report

TOLERANCE = 1e-9
"""Means this close count as equally far from 0 (float sums in another order)."""


def sign_flip_p(differences: list[float]) -> float:
    """Two-sided exact p-value of a mean difference of 0, by every sign flip of the differences.

    Args:
        differences: one (after - before) difference per seed.

    Returns:
        The share of the 2^n sign assignments whose mean is at least as far from 0.
    """
    observed = abs(sum(differences))
    extreme = sum(
        abs(sum(sign * value for sign, value in zip(signs, differences))) >= observed - TOLERANCE
        for signs in itertools.product((1, -1), repeat=len(differences))
    )
    return extreme / 2 ** len(differences)


def split_p(before: list[float], after: list[float]) -> float:
    """Two-sided exact p-value of equal means, by every split of the pooled runs.

    Args:
        before: scores of the runs before the change.
        after: scores of the runs after it.

    Returns:
        The share of the ways to choose ``len(after)`` of the pooled runs as "after" whose
        difference of means is at least as far from 0 as the observed one.
    """
    pooled, size = before + after, len(after)
    total = sum(pooled)

    def gap(chosen_sum: float) -> float:
        return chosen_sum / size - (total - chosen_sum) / (len(pooled) - size)

    observed = abs(gap(sum(after)))
    extreme = sum(
        abs(gap(sum(chosen))) >= observed - TOLERANCE
        for chosen in itertools.combinations(pooled, size)
    )
    return extreme / math.comb(len(pooled), size)


def runs(
    results: Path, config: str, metric: str, chosen: Callable[[dict[str, str]], bool]
) -> dict[int, list[float]]:
    """Scores by seed of the rows of ``results`` with this config and metric that ``chosen``
    accepts (it reads the row's columns: commit, date, ...)."""
    by_seed: dict[int, list[float]] = {}
    with open(results, encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["config"] == config and row["metric"] == metric and chosen(row):
                by_seed.setdefault(int(row["seed"]), []).append(float(row["value"]))
    return by_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, type=Path)
    parser.add_argument("--config", required=True)
    parser.add_argument("--metric", required=True)
    parser.add_argument("--before", required=True, nargs="+", help="commits before the change")
    parser.add_argument("--after", nargs="+", help="commits after it; default: every other")
    parser.add_argument("--since", default="", help="only runs dated on or after YYYY-MM-DD")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    def is_before(row: dict[str, str]) -> bool:
        return row["commit"] in args.before and row["date"] >= args.since

    def is_after(row: dict[str, str]) -> bool:
        later = row["commit"] in args.after if args.after else row["commit"] not in args.before
        return later and row["date"] >= args.since

    before = runs(args.results, args.config, args.metric, is_before)
    after = runs(args.results, args.config, args.metric, is_after)
    if not before or not after:
        side = "before" if not before else "after"
        raise SystemExit(f"{args.results}: no {args.metric} run of {args.config} {side} the change")
    seeds = sorted(set(before) | set(after))
    paired = [seed for seed in seeds if seed in before and seed in after]
    lines = [
        f"`python -m benchmarks.seed_comparison --results {args.results} --config "
        f"{args.config} --metric {args.metric} --before {' '.join(args.before)}"
        + (f" --after {' '.join(args.after)}" if args.after else "")
        + (f" --since {args.since}" if args.since else "")
        + "`",
        "",
        "| seed | before | after | after - before |",
        "| ---: | ---: | ---: | ---: |",
    ]
    differences = []
    for seed in seeds:
        old, new = before.get(seed, []), after.get(seed, [])
        cells = [", ".join(f"{value:.2f}" for value in values) or "-" for values in (old, new)]
        difference = "-"
        if seed in paired:
            differences.append(statistics.mean(new) - statistics.mean(old))
            difference = f"{differences[-1]:+.2f}"
        lines.append(f"| {seed} | {cells[0]} | {cells[1]} | {difference} |")
    old_runs = [value for values in before.values() for value in values]
    new_runs = [value for values in after.values() for value in values]
    gap = statistics.mean(new_runs) - statistics.mean(old_runs)
    lines += [
        "",
        f"Before: {len(old_runs)} runs, mean {statistics.mean(old_runs):.2f}, sd "
        f"{statistics.stdev(old_runs) if len(old_runs) > 1 else 0:.2f}. After: "
        f"{len(new_runs)} runs, mean {statistics.mean(new_runs):.2f}, sd "
        f"{statistics.stdev(new_runs) if len(new_runs) > 1 else 0:.2f}.",
        f"Unpaired: difference of the means {gap:+.2f}, "
        f"exact permutation p = {split_p(old_runs, new_runs):.3f}.",
    ]
    if differences:
        lines.append(
            f"Paired over {len(differences)} seeds: mean difference "
            f"{statistics.mean(differences):+.2f}, exact sign-flip p = "
            f"{sign_flip_p(differences):.3f}."
        )
    report(lines, args.out)


if __name__ == "__main__":
    main()
