import pytest
import torch
import torch.nn.functional as F

from nlptag.models.dropout import Dropout, dropout


def test_dropout_zeroes_the_drawn_values_and_scales_the_rest():
    inputs = torch.randn(400, 500)
    torch.manual_seed(3)
    drawn = torch.rand(inputs.shape) >= 0.3  # the values kept, as the module draws them
    torch.manual_seed(3)
    out = dropout(inputs, 0.3, training=True)
    assert torch.equal(out, inputs * drawn.float() * (1 / 0.7))
    # the share dropped is p: 200,000 draws, a standard deviation of 0.001
    assert abs(float(out.eq(0).float().mean()) - 0.3) < 0.005


def test_dropout_drops_at_the_rate_f_dropout_does_and_keeps_the_mean():
    inputs = torch.ones(1_000_000)
    for p in (0.05, 0.5):
        ours, theirs = dropout(inputs, p, True), F.dropout(inputs, p, True)
        assert abs(float(ours.eq(0).float().mean()) - float(theirs.eq(0).float().mean())) < 0.003
        assert float(ours.mean()) == pytest.approx(1.0, abs=0.005)
        assert ours.unique().tolist() == pytest.approx([0.0, 1 / (1 - p)])


def test_dropout_gradient_is_the_mask():
    inputs = torch.randn(50, 40, requires_grad=True)
    out = dropout(inputs, 0.5, True)
    out.sum().backward()
    assert torch.equal(inputs.grad, out.detach().ne(0).float() * 2.0)


def test_dropout_off_outside_training_and_at_the_ends():
    inputs = torch.randn(4, 5)
    assert dropout(inputs, 0.5, training=False) is inputs
    assert dropout(inputs, 0.0, training=True) is inputs
    assert not dropout(inputs, 1.0, training=True).any()
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\], got 1.5"):
        dropout(inputs, 1.5, True)


def test_dropout_keeps_the_dtype_and_draws_the_same_mask_in_bf16():
    inputs = torch.randn(30, 20)
    torch.manual_seed(0)
    full = dropout(inputs, 0.5, True)
    torch.manual_seed(0)
    half = dropout(inputs.bfloat16(), 0.5, True)
    assert half.dtype == torch.bfloat16
    assert torch.equal(half.eq(0), full.eq(0))


def test_dropout_module_follows_train_and_eval():
    module = Dropout(0.5)
    inputs = torch.ones(1000)
    assert module.p == 0.5 and isinstance(module, torch.nn.Dropout)
    assert module(inputs).eq(0).any()
    assert module.eval()(inputs) is inputs
