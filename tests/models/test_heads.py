"""``SoftmaxHead`` (nlptag/models/heads.py): loss, tags and confidences computed by hand."""

import math

import pytest
import torch

from nlptag.models.heads import SoftmaxHead


def hand_set_head() -> SoftmaxHead:
    """Two features to three tags: logits = [x0, x1, x0 + x1 + 1]."""
    head = SoftmaxHead(input_size=2, tag_names=["A", "B", "C"])
    with torch.no_grad():
        head.projection.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        head.projection.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))
    return head


FEATURES = torch.tensor([[[2.0, 0.0], [0.0, 3.0], [-1.0, -1.0]], [[1.0, 1.0], [9.0, 9.0], [0, 0]]])
MASK = torch.tensor([[True, True, True], [True, False, False]])
TAGS = torch.tensor([[0, 1, 2], [2, 1, 1]])  # the padded positions' tags must not count


def logits_by_hand(x0: float, x1: float) -> list[float]:
    return [x0, x1, x0 + x1 + 1]


def test_forward_is_the_hand_set_projection():
    expected = [[logits_by_hand(*map(float, f)) for f in row] for row in FEATURES]
    torch.testing.assert_close(hand_set_head()(FEATURES), torch.tensor(expected))


def test_loss_is_the_mean_cross_entropy_of_the_real_words():
    total, count = 0.0, 0
    for b in range(2):
        for t in range(3):
            if MASK[b, t]:
                logits = logits_by_hand(*map(float, FEATURES[b, t]))
                log_z = math.log(sum(math.exp(v) for v in logits))
                total += log_z - logits[TAGS[b, t]]
                count += 1
    assert count == 4
    loss = hand_set_head().loss(FEATURES, TAGS, MASK)
    assert loss.item() == pytest.approx(total / count, abs=1e-6)


def test_tags_and_confidences_are_the_softmax_argmax_and_max():
    prediction = hand_set_head().decode(FEATURES, MASK)
    # (2, 0) -> [2, 0, 3]: C; (0, 3) -> [0, 3, 4]: C; (-1, -1) -> [-1, -1, -1]: A (first max);
    # (1, 1) -> [1, 1, 3]: C; padding: 0 and 0
    assert prediction.tags.tolist() == [[2, 2, 0], [2, 0, 0]]

    def top(logits):
        return max(math.exp(v) for v in logits) / sum(math.exp(v) for v in logits)

    expected = [
        [top([2, 0, 3]), top([0, 3, 4]), 1 / 3],
        [top([1, 1, 3]), 0.0, 0.0],
    ]
    torch.testing.assert_close(prediction.confidences, torch.tensor(expected))


def test_decode_equals_decode_scores_of_forward():
    head = hand_set_head()
    a, b = head.decode(FEATURES, MASK), head.decode_scores(head(FEATURES), MASK)
    assert torch.equal(a.tags, b.tags) and torch.equal(a.confidences, b.confidences)
