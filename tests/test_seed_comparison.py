"""benchmarks/seed_comparison's exact permutation tests, against counts done by hand."""

import pytest

from benchmarks import seed_comparison as sc


def test_sign_flip_p_counts_the_flips_at_least_as_extreme():
    assert sc.sign_flip_p([1.0, 1.0, 1.0]) == pytest.approx(2 / 8)  # +++ and ---
    assert sc.sign_flip_p([1.0, -1.0]) == 1.0  # a mean of 0 is as extreme as any
    # |3 + 1| = 4: ++ and --; |3 - 1| = 2 is less extreme
    assert sc.sign_flip_p([3.0, 1.0]) == pytest.approx(2 / 4)
    # float sums in another order still count as equally extreme
    assert sc.sign_flip_p([0.1, 0.2, 0.3]) == pytest.approx(2 / 8)


def test_split_p_counts_the_splits_at_least_as_extreme():
    # pooled 0, 0, 1, 1 split into pairs: {1, 1} and {0, 0} give |1|, the 4 mixed ones 0
    assert sc.split_p([0.0, 0.0], [1.0, 1.0]) == pytest.approx(2 / 6)
    assert sc.split_p([0.0, 1.0], [0.0, 1.0]) == 1.0
    # unequal sizes: after = {5}, before = {1, 2}: only choosing 5 gives a gap as large
    assert sc.split_p([1.0, 2.0], [5.0]) == pytest.approx(1 / 3)


def test_runs_reads_one_config_metric_and_commits(tmp_path):
    results = tmp_path / "r.tsv"
    header = "config\tcommit\tseed\tmetric\tvalue\tnote\n"
    rows = [
        ("a.yaml", "c1", "1", "val/acc", "80.5"),
        ("a.yaml", "c2", "1", "val/acc", "81.0"),
        ("a.yaml", "c1", "2", "val/acc", "79.0"),
        ("a.yaml", "c1", "2", "val/f1", "70.0"),
        ("b.yaml", "c1", "3", "val/acc", "60.0"),
        ("a.yaml", "c3", "4", "val/acc", "99.0"),
    ]
    results.write_text(header + "".join("\t".join(row) + "\tx\n" for row in rows))
    by_seed = sc.runs(results, "a.yaml", "val/acc", lambda row: row["commit"] in ("c1", "c2"))
    assert by_seed == {1: [80.5, 81.0], 2: [79.0]}
