"""Lightning data modules: datasets by name or file, vocabularies, batching."""

from data_modules.conll import NERDataModule
from data_modules.tagging import TaggingDataModule

__all__ = ["NERDataModule", "TaggingDataModule"]
