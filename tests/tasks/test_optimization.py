"""``optimizer_config`` (nlptag/tasks/optimization.py): the configured optimizer class and
learning rate, the schedule and its interval reach Lightning as configured."""

from functools import partial

import pytest
import torch
from pytorch_lightning.core.optimizer import _init_optimizers_and_lr_schedulers

from nlptag.cli.lightning import NlptagCLI
from nlptag.tasks.optimization import optimizer_config
from tests.conftest import REPO


def parameters():
    return [torch.nn.Parameter(torch.zeros(3))]


def test_without_a_schedule_the_optimizer_alone_is_returned():
    built = optimizer_config(parameters(), partial(torch.optim.SGD, lr=0.25))
    assert type(built) is torch.optim.SGD and built.param_groups[0]["lr"] == 0.25


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_a_schedule_is_stepped_every_interval_and_watches_val_loss(interval):
    config = optimizer_config(
        parameters(),
        partial(torch.optim.Adam, lr=0.5),
        partial(torch.optim.lr_scheduler.StepLR, step_size=2, gamma=0.1),
        interval,
    )
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert type(optimizer) is torch.optim.Adam and scheduler.optimizer is optimizer
    assert config["lr_scheduler"] == {
        "scheduler": scheduler,
        "monitor": "val/loss",
        "interval": interval,
    }
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def configured(tmp_path, config, *overrides):
    """What Lightning makes of the task's ``configure_optimizers`` for a shipped config:
    (optimizers, LR scheduler configs)."""
    args = ["--config", str(REPO / "configs/base/trainer.yaml"), "--config", str(REPO / config)]
    args += [f"--trainer.default_root_dir={tmp_path / 'run'}", "--trainer.logger=false", *overrides]
    cli = NlptagCLI(args, run=False)
    cli.model.trainer = cli.trainer
    return _init_optimizers_and_lr_schedulers(cli.model)


def test_the_language_models_cosine_schedule_steps_every_step(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("Speak, speak. Before we proceed any further.\n" * 8)
    optimizers, schedulers = configured(
        tmp_path,
        "configs/lm/tinyshakespeare_char.yaml",
        "--data.dataset=null",
        f"--data.train_file={text}",
    )
    (optimizer,) = optimizers
    assert type(optimizer) is torch.optim.Adam and optimizer.defaults["lr"] == 0.002
    (scheduler,) = schedulers
    assert type(scheduler.scheduler) is torch.optim.lr_scheduler.CosineAnnealingLR
    assert (scheduler.scheduler.T_max, scheduler.scheduler.eta_min) == (3768, 0.00004)
    assert scheduler.interval == "step" and scheduler.frequency == 1


def test_the_ner_plateau_schedule_watches_val_loss_every_epoch(tmp_path):
    from tests.conftest import _toy_ner

    train = tmp_path / "train.txt"
    train.write_text(_toy_ner(20, 0))
    optimizers, schedulers = configured(
        tmp_path,
        "configs/ner/conll2003.yaml",
        "--data.init_args.dataset=null",
        f"--data.init_args.train_file={train}",
        "--model.init_args.optimizer.init_args.lr=0.0125",
    )
    (optimizer,) = optimizers
    assert type(optimizer) is torch.optim.Adam and optimizer.defaults["lr"] == 0.0125
    (scheduler,) = schedulers
    plateau = scheduler.scheduler
    assert type(plateau) is torch.optim.lr_scheduler.ReduceLROnPlateau
    assert (plateau.mode, plateau.factor, plateau.patience) == ("min", 0.5, 2)
    assert scheduler.interval == "epoch" and scheduler.monitor == "val/loss"
    assert scheduler.reduce_on_plateau
