"""bf16-mixed with gradient clipping and fused Adam: Lightning's plugin refuses it, nlptag's clips
exactly as float32 training does."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning.plugins.precision import MixedPrecision

from nlptag.callbacks.precision import BF16MixedPrecision
from nlptag.cli.hardware import bf16_lstm_runs
from tests.conftest import REPO


def gradients() -> tuple[list[torch.nn.Parameter], torch.optim.Adam]:
    parameters = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2, 2))]
    parameters[0].grad = torch.tensor([3.0, 0.0, 4.0])
    parameters[1].grad = torch.tensor([[0.0, 12.0], [0.0, 0.0]])  # total norm 13
    return parameters, torch.optim.Adam(parameters, fused=True)


def test_lightnings_bf16_plugin_refuses_to_clip_fused_adam():
    _, optimizer = gradients()
    with pytest.raises(RuntimeError, match="does not allow for gradient clipping"):
        MixedPrecision("bf16-mixed", "cpu").clip_gradients(optimizer, 1.0)


@pytest.mark.parametrize("algorithm, expected", [("norm", 1 / 13), ("value", None)])
def test_nlptags_bf16_plugin_clips_like_float32(algorithm, expected):
    parameters, optimizer = gradients()
    plugin = BF16MixedPrecision("cpu")
    assert plugin.precision == "bf16-mixed" and plugin.device == "cpu"
    plugin.clip_gradients(optimizer, 1.0, algorithm)
    if expected is None:  # every entry into [-1, 1]
        assert parameters[0].grad.tolist() == [1.0, 0.0, 1.0]
        assert parameters[1].grad.tolist() == [[0.0, 1.0], [0.0, 0.0]]
    else:  # scaled to norm 1 (clip_grad_norm_ adds 1e-6 to the norm)
        scale = 1.0 / (13.0 + 1e-6)
        torch.testing.assert_close(parameters[0].grad, torch.tensor([3.0, 0.0, 4.0]) * scale)
        torch.testing.assert_close(parameters[1].grad[0, 1], torch.tensor(12.0 * scale))


@pytest.mark.skipif(not bf16_lstm_runs(), reason="PyTorch's bf16 LSTM does not run on this CPU")
@pytest.mark.parametrize(
    "how",
    [["--config", str(REPO / "configs/overrides/cpu_bf16.yaml")], ["--trainer.precision", "bf16"]],
    ids=["override", "bf16-alias"],
)
def test_a_fit_with_the_cpu_bf16_override_clips_with_fused_adam(tmp_path, capsys, monkeypatch, how):
    from nlptag.cli import main

    clipped = []
    original = BF16MixedPrecision.clip_gradients

    def counting(self, *args, **kwargs):
        clipped.append(args[1] if len(args) > 1 else kwargs.get("clip_val"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BF16MixedPrecision, "clip_gradients", counting)
    run = tmp_path / "run"
    status = main(
        ["fit", "--config", str(REPO / "configs/base/trainer.yaml")]
        + ["--config", str(REPO / "configs/demo.yaml"), "--trainer.default_root_dir", str(run)]
        + [*how, "--trainer.max_epochs", "2"]
    )
    assert status == 0
    err = capsys.readouterr().err
    assert "Warning" not in err and "Traceback" not in err
    assert clipped and set(clipped) == {5.0}  # every step, at the base config's norm 5
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["epoch"] == 1
    weights = [v for v in state["state_dict"].values() if v.is_floating_point()]
    assert weights and all(torch.isfinite(v).all() for v in weights)


def test_cpu_autocast_leaves_packed_recurrent_layers_in_float32():
    """Why bf16 gains nothing at tagging time and for the packed character BiLSTM (README)."""
    from torch.nn.utils.rnn import pack_padded_sequence

    for cell in (torch.nn.LSTM, torch.nn.GRU):
        rnn = cell(4, 3, batch_first=True)
        inputs = torch.randn(2, 5, 4)
        packed = pack_padded_sequence(inputs, torch.tensor([5, 3]), batch_first=True)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            assert rnn(packed)[0].data.dtype == torch.float32, cell


@pytest.mark.skipif(not bf16_lstm_runs(), reason="PyTorch's bf16 LSTM does not run on this CPU")
def test_cpu_autocast_runs_dense_lstms_in_bf16_and_grus_in_float32():
    """What bf16 speeds up: the encoder's padded training batches of LSTM taggers; a GRU (the
    translation model's encoder and decoder) stays float32 even when dense (README)."""
    expected = {torch.nn.LSTM: torch.bfloat16, torch.nn.GRU: torch.float32}
    for cell, dtype in expected.items():
        rnn = cell(4, 3, batch_first=True)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            assert rnn(torch.randn(2, 5, 4))[0].dtype == dtype, cell


@pytest.mark.parametrize("max_norm", [100.0, 13.0 + 1e-6, 13.0, 5.0, 0.01])
def test_clip_grad_norm_gives_torchs_gradients_bit_for_bit(max_norm):
    """Within bounds nothing is multiplied; beyond them torch's own scaling runs."""
    from nlptag.callbacks.precision import clip_grad_norm_

    ours, _ = gradients()
    theirs, _ = gradients()
    before = [p.grad.clone() for p in ours]
    norm = clip_grad_norm_(ours, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert torch.equal(norm, expected) and float(norm) == 13.0
    for mine, reference in zip(ours, theirs):
        assert torch.equal(mine.grad, reference.grad)
    scaled = max_norm / (13.0 + 1e-6) < 1.0
    assert any(not torch.equal(p.grad, b) for p, b in zip(ours, before)) == scaled


def test_clip_grad_norm_skips_the_multiply_within_bounds(monkeypatch):
    from nlptag.callbacks.precision import clip_grad_norm_

    calls = []
    monkeypatch.setattr(torch.nn.utils, "clip_grads_with_norm_", lambda *a: calls.append(a))
    clip_grad_norm_(gradients()[0], 13.5)
    assert calls == []
    clip_grad_norm_(gradients()[0], 12.5)
    assert len(calls) == 1


def test_clip_grad_norm_applies_a_nan_norm_like_torch():
    from nlptag.callbacks.precision import clip_grad_norm_

    ours, _ = gradients()
    ours[0].grad[1] = float("nan")
    theirs, _ = gradients()
    theirs[0].grad[1] = float("nan")
    clip_grad_norm_(ours, 100.0)
    torch.nn.utils.clip_grad_norm_(theirs, 100.0)
    for mine, reference in zip(ours, theirs):
        assert torch.isnan(mine.grad).all() and torch.isnan(reference.grad).all()


def test_a_float32_fit_clips_with_nlptags_plugin(tmp_path, monkeypatch):
    from nlptag.callbacks.precision import Float32Precision
    from nlptag.cli import main

    clipped = []
    original = Float32Precision.clip_grad_by_norm

    def counting(self, optimizer, clip_val):
        clipped.append(clip_val)
        return original(self, optimizer, clip_val)

    monkeypatch.setattr(Float32Precision, "clip_grad_by_norm", counting)
    status = main(
        ["fit", "--config", str(REPO / "configs/base/trainer.yaml")]
        + ["--config", str(REPO / "configs/demo.yaml")]
        + ["--trainer.default_root_dir", str(tmp_path / "run"), "--trainer.max_epochs", "1"]
    )
    assert status == 0
    assert clipped and set(clipped) == {5.0}
