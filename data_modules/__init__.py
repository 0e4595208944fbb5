"""Lightning data modules: datasets by name or file, vocabularies, batching."""

from data_modules.classification import ClassificationDataModule
from data_modules.conll import NERDataModule
from data_modules.parallel import ParallelTextDataModule
from data_modules.tagging import TaggingDataModule
from data_modules.text import CharLMDataModule

__all__ = [
    "CharLMDataModule",
    "ClassificationDataModule",
    "NERDataModule",
    "ParallelTextDataModule",
    "TaggingDataModule",
]
