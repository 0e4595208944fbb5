"""``PredictionWriter`` (nlptag/callbacks/prediction_writer.py): rows in input order, whatever
order the batches came in; the file replaced atomically."""

import json
from types import SimpleNamespace

import pytest

from nlptag.callbacks.prediction_writer import PredictionWriter


def trainer(directory):
    return SimpleNamespace(world_size=1, is_global_zero=True, log_dir=str(directory))


def write(writer, run, batches):
    """Feed ``batches`` of (indices, predictions) as Lightning would, then end the epoch."""
    for batch_idx, (indices, predictions) in enumerate(batches):
        writer.write_on_batch_end(None, None, predictions, indices, None, batch_idx, 0)
    writer.on_predict_epoch_end(trainer(run), None)


def test_rows_are_written_in_input_order_whatever_the_batch_order(tmp_path, capsys):
    writer = PredictionWriter()
    batches = [([4, 1], ["e", "b"]), ([0], ["a"]), ([3, 5, 2], ["d", "f", "c"])]
    write(writer, tmp_path, batches)
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"index": i, "prediction": p} for i, p in enumerate("abcdef")
    ]
    assert capsys.readouterr().out == f"predictions written to {tmp_path / 'predictions.jsonl'}\n"
    # the rows are cleared: a second predict run writes only its own rows
    write(writer, tmp_path, [([0], [{"label": "x", "probabilities": {"x": 1.0}}])])
    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert rows == [{"index": 0, "prediction": {"label": "x", "probabilities": {"x": 1.0}}}]


def test_a_batch_with_more_predictions_than_indices_is_an_error(tmp_path):
    with pytest.raises(ValueError):
        PredictionWriter().write_on_batch_end(None, None, ["a", "b"], [0], None, 0, 0)


def test_the_run_directory_is_created(tmp_path):
    run = tmp_path / "new" / "run"
    write(PredictionWriter(), run, [([0], [[1, 2]])])
    assert json.loads((run / "predictions.jsonl").read_text()) == {"index": 0, "prediction": [1, 2]}


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"index": 0, "prediction": "old"}\n')
    with pytest.raises(TypeError):
        write(PredictionWriter(), tmp_path, [([0, 1], ["new", object()])])
    assert path.read_text() == '{"index": 0, "prediction": "old"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.jsonl"]
