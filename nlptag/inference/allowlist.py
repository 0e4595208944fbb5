"""The closed allow-lists of class paths that a bundle, a checkpoint or a checkpoint's
hyperparameters may name. Every path that turns a string into an import checks the whole
configuration against one of these first, so nothing outside them is ever imported.
"""

from __future__ import annotations

from typing import Any

from nlptag.errors import NlptagError

NETWORK_CLASSES = frozenset(
    {
        "nlptag.models.attention.AdditiveAttention",
        "nlptag.models.caption_search.CaptionSearch",
        "nlptag.models.captioning.CaptionNetwork",
        "nlptag.models.captioning.ImageEveryStepDecoder",
        "nlptag.models.captioning.ShowAndTellDecoder",
        "nlptag.models.captioning.SoftAttentionDecoder",
        "nlptag.models.attention.DotAttention",
        "nlptag.models.attention.GeneralAttention",
        "nlptag.models.classifier.ClassifierNetwork",
        "nlptag.models.crf.CRFHead",
        "nlptag.models.embeddings.CharBiLSTM",
        "nlptag.models.embeddings.CharCNN",
        "nlptag.models.embeddings.WordEmbedder",
        "nlptag.models.encoders.RecurrentEncoder",
        "nlptag.models.heads.SoftmaxHead",
        "nlptag.models.language_model.CharRNN",
        "nlptag.models.pooling.AttentionPooling",
        "nlptag.models.pooling.FinalStatePooling",
        "nlptag.models.pooling.MaxPooling",
        "nlptag.models.pooling.MeanPooling",
        "nlptag.models.search.Search",
        "nlptag.models.seq2seq.RecurrentDecoder",
        "nlptag.models.seq2seq.Seq2Seq",
        "nlptag.models.tagger.TaggerNetwork",
    }
)
"""What a bundle's network (and search) may be built from."""

TASK_CLASSES = frozenset(
    {
        "nlptag.tasks.captioning.ImageCaptioner",
        "nlptag.tasks.classification.SequenceClassifier",
        "nlptag.tasks.language_model.CharLanguageModel",
        "nlptag.tasks.ner.EntityTagger",
        "nlptag.tasks.tagging.SequenceTagger",
        "nlptag.tasks.translation.Translator",
    }
)
DATA_CLASSES = frozenset(
    {
        f"data_modules.{name}"
        for name in (
            "CaptionDataModule",
            "CharLMDataModule",
            "ClassificationDataModule",
            "NERDataModule",
            "ParallelTextDataModule",
            "TaggingDataModule",
        )
    }
    | {
        "data_modules.captions.CaptionDataModule",
        "data_modules.classification.ClassificationDataModule",
        "data_modules.conll.NERDataModule",
        "data_modules.parallel.ParallelTextDataModule",
        "data_modules.tagging.TaggingDataModule",
        "data_modules.text.CharLMDataModule",
    }
)
_OPTIMIZERS = (
    "ASGD Adadelta Adafactor Adagrad Adam AdamW Adamax LBFGS NAdam RAdam RMSprop Rprop SGD "
    "SparseAdam Muon"
).split()
_SCHEDULERS = (
    "ChainedScheduler ConstantLR CosineAnnealingLR CosineAnnealingWarmRestarts CyclicLR "
    "ExponentialLR LambdaLR LinearLR MultiStepLR MultiplicativeLR OneCycleLR PolynomialLR "
    "ReduceLROnPlateau SequentialLR StepLR"
).split()
TRAINING_CLASSES = (
    NETWORK_CLASSES
    | TASK_CLASSES
    | DATA_CLASSES
    | {f"torch.optim.{name}" for name in _OPTIMIZERS}
    | {f"torch.optim.lr_scheduler.{name}" for name in _SCHEDULERS}
)
"""What a checkpoint's hyperparameters may name (model, data, optimizer and schedule)."""

_CLASS_KEYS = ("class_path", "_class_path")


def check_class_paths(config: Any, where: str, allowed: frozenset[str] = NETWORK_CLASSES) -> None:
    """Refuse, before anything is imported, any class path in ``config`` (at any depth, under
    ``class_path`` or ``_class_path``) that is not in ``allowed``."""
    if isinstance(config, dict):
        for key, value in config.items():
            if key in _CLASS_KEYS and value not in allowed:
                raise NlptagError(
                    f"{where}: refusing untrusted class path {value!r}: not one of nlptag's own "
                    "classes"
                )
            check_class_paths(value, where, allowed)
    elif isinstance(config, list | tuple):
        for value in config:
            check_class_paths(value, where, allowed)
