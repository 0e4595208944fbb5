"""Lightning data modules: datasets by name or file, vocabularies, batching.

The classes are imported on first use (``data_modules.TaggingDataModule`` in a config imports
only the tagging module), so naming one data module does not import them all.
"""

from __future__ import annotations

import importlib

_MODULE_OF = {
    "CaptionDataModule": "data_modules.captions",
    "CharLMDataModule": "data_modules.text",
    "ClassificationDataModule": "data_modules.classification",
    "NERDataModule": "data_modules.conll",
    "ParallelTextDataModule": "data_modules.parallel",
    "TaggingDataModule": "data_modules.tagging",
}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name in _MODULE_OF:
        return getattr(importlib.import_module(_MODULE_OF[name]), name)
    raise AttributeError(f"module 'data_modules' has no attribute {name!r}")
