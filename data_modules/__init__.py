"""Lightning data modules: datasets by name or file, vocabularies, batching."""

from data_modules.tagging import TaggingDataModule

__all__ = ["TaggingDataModule"]
