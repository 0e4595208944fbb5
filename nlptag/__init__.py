"""nlptag: recurrent models for NLP, trained with PyTorch Lightning."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nlptag.inference import load

__version__ = "0.1.0"
__all__ = ["load"]


def __getattr__(name: str):
    # ``nlptag.load`` imports torch and the task modules; only pay for that when it is used
    if name == "load":
        from nlptag.inference import load

        return load
    raise AttributeError(f"module 'nlptag' has no attribute {name!r}")
