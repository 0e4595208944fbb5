import pytest

from nlptag.callbacks import run_logger
from nlptag.callbacks.run_logger import RunLogger, TrainingClock


def log(logger, *rows):
    for step, row in enumerate(rows):
        logger.log_metrics(row, step=step)
    logger.save()


def test_metrics_csv_is_written_in_the_run_directory_itself(tmp_path):
    log(RunLogger(str(tmp_path / "run")), {"epoch": 0, "train/loss": 0.5}, {"epoch": 0, "acc": 90})
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["metrics.csv"]
    assert (tmp_path / "run" / "metrics.csv").read_text() == (
        "acc,epoch,step,train/loss\n,0,0,0.5\n90,0,1,\n"
    )


def test_a_resumed_run_continues_the_log_and_widens_its_header(tmp_path):
    log(RunLogger(str(tmp_path)), {"epoch": 0, "loss": 0.5})
    resumed = RunLogger(str(tmp_path))
    resumed.log_metrics({"epoch": 1, "loss": 0.25, "lr": 0.1}, step=7)
    resumed.save()
    assert (tmp_path / "metrics.csv").read_text() == (
        "epoch,loss,lr,step\n0,0.5,,0\n1,0.25,0.1,7\n"
    )


def test_dropping_rows_from_an_epoch_removes_them_and_what_follows(tmp_path):
    rows = [{"epoch": 0, "loss": 4}, {"epoch": 1, "loss": 3}, {"loss": 2}, {"epoch": 2, "loss": 1}]
    log(RunLogger(str(tmp_path)), *rows)
    resumed = RunLogger(str(tmp_path))
    resumed.log_metrics({"epoch": 1, "loss": 99}, step=9)  # unsaved: forgotten too
    assert resumed.drop_rows_from_epoch(1) == 3
    resumed.save()
    assert (tmp_path / "metrics.csv").read_text() == "epoch,loss,step\n0,4,0\n"
    assert resumed.drop_rows_from_epoch(5) == 0


def test_the_clock_counts_from_fit_start_on_top_of_the_carried_totals(monkeypatch):
    wall, cpu = [100.0], [10.0]
    monkeypatch.setattr(run_logger.time, "perf_counter", lambda: wall[0])
    monkeypatch.setattr(run_logger.time, "process_time", lambda: cpu[0])
    clock = TrainingClock()
    clock.load_state_dict({"wall_minutes": 2.0, "unknown": 5.0})  # cpu_minutes missing: 0
    clock.on_fit_start(None, None)
    wall[0], cpu[0] = 100.0 + 90, 10.0 + 30  # 1.5 wall minutes, 0.5 CPU minutes
    assert clock.state_dict() == pytest.approx({"wall_minutes": 3.5, "cpu_minutes": 0.5})


def test_the_clock_logs_its_totals_under_time_after_each_epoch(monkeypatch):
    monkeypatch.setattr(run_logger.time, "perf_counter", lambda: 0.0)
    monkeypatch.setattr(run_logger.time, "process_time", lambda: 0.0)
    logged = []

    class Module:
        def log_dict(self, values, **options):
            logged.append((values, options))

    clock = TrainingClock()
    clock.load_state_dict({"wall_minutes": 4, "cpu_minutes": 1})
    clock.on_train_epoch_end(None, Module())
    assert logged == [
        ({"time/wall_minutes": 4.0, "time/cpu_minutes": 1.0}, {"rank_zero_only": True})
    ]
