import pytest
import torch

from nlptag.metrics.percent import PercentAccuracy, PercentF1

PREDS = torch.tensor([0, 1, 2, 2, 1, 0])
TARGET = torch.tensor([0, 1, 1, 2, 1, 2])


def test_micro_accuracy_is_the_percentage_of_correct_predictions():
    metric = PercentAccuracy(3, average="micro")
    assert metric(PREDS, TARGET).item() == pytest.approx(100 * 4 / 6)


def test_accuracy_accumulates_over_updates_and_resets():
    metric = PercentAccuracy(3, average="micro")
    metric.update(PREDS[:2], TARGET[:2])  # 2 of 2 correct
    metric.update(PREDS[2:], TARGET[2:])  # 2 of 4 correct
    assert metric.compute().item() == pytest.approx(100 * 4 / 6)
    metric.reset()
    metric.update(torch.tensor([1]), torch.tensor([0]))
    assert metric.compute().item() == 0.0


def test_macro_f1_is_the_mean_of_per_class_f1_in_percent():
    # class 0: P 1/2 R 1 -> 2/3; class 1: P 1 R 2/3 -> 4/5; class 2: P 1/2 R 1/2 -> 1/2
    metric = PercentF1(3, average="macro")
    assert metric(PREDS, TARGET).item() == pytest.approx(100 * (2 / 3 + 4 / 5 + 1 / 2) / 3)


def test_a_perfect_score_is_100_not_1():
    assert PercentAccuracy(3, average="micro")(TARGET, TARGET).item() == pytest.approx(100.0)
    assert PercentF1(3, average="macro")(TARGET, TARGET).item() == pytest.approx(100.0)
