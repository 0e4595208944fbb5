"""data_modules.base: what every data module shares."""

import pytest

from data_modules.base import DataModule
from data_modules.classification import ClassificationDataModule
from data_modules.parallel import ParallelTextDataModule
from data_modules.tagging import TaggingDataModule
from data_modules.text import CharLMDataModule


@pytest.mark.parametrize(
    "cls", [TaggingDataModule, ClassificationDataModule, ParallelTextDataModule, CharLMDataModule]
)
def test_every_data_module_shares_the_base(cls):
    assert issubclass(cls, DataModule)


def test_str_names_the_hyperparameters_without_building_a_dataloader(monkeypatch):
    """Lightning's ``str()`` of a data module calls every ``*_dataloader``; jsonargparse takes
    it once per argument link, so a predict encoded its input once per link."""
    data = TaggingDataModule(dataset="demo", min_word_freq=1, batch_size=7)
    built = []
    for hook in ("train_dataloader", "val_dataloader", "test_dataloader", "predict_dataloader"):
        monkeypatch.setattr(data, hook, lambda hook=hook: built.append(hook))
    text = str(data)
    assert built == []
    assert text.startswith("TaggingDataModule({") and "'batch_size': 7" in text
    assert "'dataset': 'demo'" in text
