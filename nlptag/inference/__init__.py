"""Inference with torch alone: bundles, checkpoint reading, predictors and export.

Nothing in this package imports Lightning, torchmetrics, ``datasets`` or sacreBLEU: a bundle's
network is built from its spec (:mod:`nlptag.inference.build`) with classes of the allow-list
(:mod:`nlptag.inference.allowlist`) and run by the predictor of its task.
"""

from nlptag.inference.captioning import CaptionPredictor
from nlptag.inference.predictors import (
    PREDICTORS,
    ClassifierPredictor,
    EntityPredictor,
    LanguageModelPredictor,
    Predictor,
    TagPredictor,
    TranslationPredictor,
    load,
)

PREDICTORS[CaptionPredictor.task] = CaptionPredictor

__all__ = [
    "CaptionPredictor",
    "ClassifierPredictor",
    "EntityPredictor",
    "LanguageModelPredictor",
    "Predictor",
    "TagPredictor",
    "TranslationPredictor",
    "load",
]
