"""Every figure of the README's main results table comes from a committed record: for each row,
``benchmarks/results/*.tsv`` holds one line per seed of that config for one metric, whose mean
(and sample standard deviation, where shown) is the row's bold result and whose CPU minutes are
the row's training cost."""

import csv
import re
import statistics

import pytest

from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def results_rows() -> list[dict[str, str]]:
    """The rows of the first table under ``## Results``."""
    lines = README[README.index("## Results") :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| task | config"))
    table = []
    for line in lines[start:]:
        if not line.startswith("| "):
            break
        table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, body = table[0], table[2:]
    return [dict(zip(header, cells)) for cells in body]


def recorded() -> list[dict[str, str]]:
    records = []
    for path in sorted((REPO / "benchmarks" / "results").glob("*.tsv")):
        with open(path, newline="") as handle:
            records += list(csv.DictReader(handle, delimiter="\t"))
    return records


ROWS = results_rows()


def test_the_results_table_was_found():
    assert len(ROWS) >= 7


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["config"].strip("`"))
def test_every_result_has_its_records(row):
    config = row["config"].strip("`")
    bold = re.search(r"\*\*([\d.]+)(?: ± ([\d.]+))?\*\*", row["result"])
    assert bold, row["result"]
    value, spread = bold.group(1), bold.group(2)
    seeds = int(row["seeds"])
    by_metric: dict[str, list[dict[str, str]]] = {}
    for record in recorded():
        if record["config"] == config:
            by_metric.setdefault(record["metric"], []).append(record)
    assert by_metric, f"no record of {config} in benchmarks/results"
    matches = []
    for metric, records in by_metric.items():
        values = [float(r["value"]) for r in records]
        if len(values) != seeds:
            continue
        if round(statistics.mean(values), decimals(value)) != float(value):
            continue
        if spread is not None and round(statistics.stdev(values), decimals(spread)) != float(
            spread
        ):
            continue
        matches.append((metric, records))
    assert matches, f"{config}: no metric with {seeds} records whose mean is {value} ± {spread}"
    (metric, records), *_ = matches
    cost = re.search(r"([\d.]+)(?:-([\d.]+))? CPU min", row["training cost"])
    assert cost, row["training cost"]
    minutes = sorted(float(r["cpu_minutes"]) for r in records)
    low, high = float(cost.group(1)), float(cost.group(2) or cost.group(1))
    assert (minutes[0], minutes[-1]) == (low, high), (config, metric, minutes)
