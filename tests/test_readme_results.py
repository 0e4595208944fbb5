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
    # "1 (2 runs)": one seed trained twice (at two commits); otherwise one record per seed
    runs = re.fullmatch(r"(\d+)(?: \((\d+) runs\))?", row["seeds"])
    assert runs, row["seeds"]
    seeds = int(runs.group(2) or runs.group(1))
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


# Every table of the README, not only the main one: a table is preceded by a marker line that
# names the committed files its figures come from, ``<!-- figures: PATH [PATH...] -->`` (paths
# relative to the repository, globs allowed), or says it holds none, ``<!-- no figures -->``
# (option and layout tables). Each number in the body of a table with figures must be a number
# of those files, rounded to the README's decimals, or, for ``.tsv`` records, the mean or sample
# standard deviation of one config's metric over its seeds, or a run's CPU minutes per epoch.
# The main table's seed counts ("10 (24 runs)") are left out: test_every_result_has_its_records
# checks them exactly against the records.

MARKER = re.compile(r"^<!-- (?:figures: (?P<paths>.+?)|(?P<none>no figures)) -->$")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
NUMBER = re.compile(r"(?<![\w.])(?<![A-Za-z]-)\d[\d,]*(?:\.\d+)?(?![\w])")
CODE = re.compile(r"`[^`]*`")
SEED_COUNT = re.compile(r"\| \d+ \(\d+ runs\) \|")


def readme_tables() -> list[tuple[int, str | None, list[str]]]:
    """(line number, the marker line before it or None, body lines) of every README table."""
    lines = README.splitlines()
    found, index = [], 0
    while index < len(lines):
        if lines[index].startswith("|") and index + 1 < len(lines) and "---" in lines[index + 1]:
            start = index
            while index < len(lines) and lines[index].startswith("|"):
                index += 1
            marker = lines[start - 1] if start and MARKER.match(lines[start - 1]) else None
            found.append((start + 1, marker, lines[start + 2 : index]))
        index += 1
    return found


def numbers_in(text: str) -> list[str]:
    """The numbers of a text outside code spans and dates, without thousands separators."""
    text = DATE.sub(" ", CODE.sub(" ", text))
    return [match.replace(",", "") for match in NUMBER.findall(text)]


def candidates(paths: list[str]) -> list[float]:
    values = []
    for pattern in paths:
        files = sorted(REPO.glob(pattern))
        assert files, f"<!-- figures: {pattern} -->: no such committed file"
        for path in files:
            text = path.read_text()
            values += [float(n) for n in numbers_in(text)]
            if path.suffix == ".tsv":
                groups: dict[tuple[str, str], list[dict[str, str]]] = {}
                for record in csv.DictReader(text.splitlines(), delimiter="\t"):
                    groups.setdefault((record["config"], record["metric"]), []).append(record)
                    if record.get("cpu_minutes") and record.get("epochs"):
                        values.append(float(record["cpu_minutes"]) / int(record["epochs"]))
                for records in groups.values():
                    seeds = [float(record["value"]) for record in records]
                    values.append(statistics.mean(seeds))
                    if len(seeds) > 1:
                        values.append(statistics.stdev(seeds))
    return values


TABLES = readme_tables()


def test_every_readme_table_says_where_its_figures_come_from():
    unmarked = [line for line, marker, _ in TABLES if marker is None]
    assert len(TABLES) >= 15
    assert not unmarked, f"README tables without a figures marker at lines {unmarked}"


@pytest.mark.parametrize(
    "line, marker, body",
    [table for table in TABLES if table[1] and "figures:" in table[1]],
    ids=lambda value: f"line{value}" if isinstance(value, int) else "",
)
def test_every_readme_figure_has_a_committed_record(line, marker, body):
    sources = candidates(MARKER.match(marker).group("paths").split())
    missing = []
    for row in body:
        for number in numbers_in(SEED_COUNT.sub("| |", row)):
            places = decimals(number)
            if not any(round(value, places) == float(number) for value in sources):
                missing.append(number)
    assert not missing, f"README line {line}: {missing} are in no file of {marker}"


def test_the_figure_check_can_fail():
    sources = candidates(["benchmarks/results/cold_start.md"])
    assert any(round(value, 2) == 2.06 for value in sources)
    assert not any(round(value, 2) == 2.07 for value in sources)
    assert numbers_in("| `configs/x_2016.yaml` | 1,195 | r2.16 test | 2026-11-27 | BLEU-4 |") == [
        "1195"
    ]


def test_the_wall_to_cpu_time_claim_is_the_largest_recorded_ratio():
    claim = re.search(r"are up to ([\d.]+) times their CPU\s+times", README)
    assert claim, "the README's wall-clock sentence under ## Results was not found"
    ratios = [
        float(record["wall_minutes"]) / float(record["cpu_minutes"])
        for record in recorded()
        if record.get("wall_minutes") and record.get("cpu_minutes")
    ]
    assert round(max(ratios), 1) == float(claim.group(1))


def test_the_quick_start_time_is_the_measured_one():
    measured = (REPO / "benchmarks/results/demo_time.md").read_text()
    both = float(re.search(r"^\| both \| ([\d.]+) \|$", measured, re.MULTILINE).group(1))
    claims = re.findall(r"\(?(\d+) s (?:once set up|of wall time here)", README)
    assert len(claims) == 2 and all(int(claim) == round(both) for claim in claims), claims
