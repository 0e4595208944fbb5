"""Named-entity recognition: a sequence tagger scored by conlleval-exact entity F1.

Shapes: ``B`` batch, ``T`` time.
"""

from __future__ import annotations

from typing import Any

import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from nlptag.errors import NlptagError
from nlptag.metrics.entity_f1 import EntityF1
from nlptag.models.embeddings import WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.models.heads import SoftmaxHead, TagPrediction
from nlptag.models.tagger import EmbedderFactory, EncoderFactory, HeadFactory
from nlptag.tasks.tagging import STAGES, SequenceTagger
from nlptag.text.encoding import TaggingBatch
from nlptag.text.schemes import Scheme, convert_tags, extract_chunks


def entity_types(tag_names: list[str]) -> list[str]:
    """The entity types of ``tag_names`` (``B-PER`` -> ``PER``), sorted."""
    return sorted({tag.split("-", 1)[1] for tag in tag_names if "-" in tag})


class EntityTagger(SequenceTagger):
    """A :class:`SequenceTagger` for entities: the model works in ``tag_scheme`` (IOBES by default);
    metrics and predictions use the data's own ``data_scheme``. Both are linked from the data
    module. The main metric is ``val/f1`` (entity F1 in percent, as conlleval computes it).

    Args:
        num_words: word vocabulary size (linked from the data module).
        num_chars: character vocabulary size (linked from the data module).
        tag_names: the tags, in id order (linked from the data module).
        embedder: builds the word representation.
        encoder: builds the recurrent encoder.
        head: builds the output head (a CRF for NER, usually).
        data_scheme: the tag scheme of the data files (linked from the data module).
        tag_scheme: the tag scheme of ``tag_names`` (linked from the data module).
        optimizer: the optimizer, given the parameters.
        lr_scheduler: an optional LR schedule, stepped once per epoch; a ReduceLROnPlateau
            schedule watches ``val/loss``.
    """

    main_metric = "val/f1"
    main_metric_mode = "max"

    def __init__(
        self,
        num_words: int = 2,
        num_chars: int = 2,
        tag_names: list[str] | None = None,
        embedder: EmbedderFactory = WordEmbedder,
        encoder: EncoderFactory = RecurrentEncoder,
        head: HeadFactory = SoftmaxHead,
        data_scheme: Scheme = "iob2",
        tag_scheme: Scheme = "iob2",
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__(
            num_words, num_chars, tag_names, embedder, encoder, head, optimizer, lr_scheduler
        )
        head_scheme = getattr(self.head, "scheme", None)
        if head_scheme is not None and head_scheme != tag_scheme:
            raise NlptagError(
                f"model.head.init_args.scheme is {head_scheme!r} but the data's tag_scheme is "
                f"{tag_scheme!r}; set them to the same scheme"
            )
        self.data_scheme = data_scheme
        self.tag_scheme = tag_scheme
        types = entity_types(self.tag_names)
        self.entity_f1 = nn.ModuleDict({stage: EntityF1(types) for stage in STAGES})

    def setup(self, stage: str) -> None:
        """As :meth:`SequenceTagger.setup`; entity types only the gold tags have are scored
        too (their entities are missed, as conlleval counts them)."""
        super().setup(stage)
        types = entity_types(self.gold_tag_names)
        if types != self.entity_f1["val"].entity_types:
            self.entity_f1 = nn.ModuleDict({stage: EntityF1(types) for stage in STAGES})

    def to_data_scheme(self, tag_ids: list[int], names: list[str] | None = None) -> list[str]:
        """Tag ids as tags of the data's scheme; ``names`` are the tags of the ids (default:
        the model's)."""
        names = self.tag_names if names is None else names
        return convert_tags([names[t] for t in tag_ids], self.tag_scheme, self.data_scheme)

    def evaluate(self, stage: str, prediction: TagPrediction, batch: TaggingBatch) -> None:
        """Update the stage's entity F1, which also counts token accuracy in the data's scheme
        (as conlleval does), logged at the end of the epoch."""
        lengths = batch.lengths.tolist()
        predicted = [self.to_data_scheme(t[:n]) for t, n in zip(prediction.tags.tolist(), lengths)]
        names = self.gold_tag_names
        gold = [self.to_data_scheme(t[:n], names) for t, n in zip(batch.tags.tolist(), lengths)]
        metric = self.entity_f1[stage]
        metric.update(predicted, gold)

    def _log_entity_f1(self, stage: str) -> None:
        metric = self.entity_f1[stage]
        values = metric.compute()
        keys = values if stage == "test" else ("f1", "precision", "recall", "acc")
        self.log_dict({f"{stage}/{key}": values[key] for key in keys})
        metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_entity_f1("val")

    def on_test_epoch_end(self) -> None:
        self._log_entity_f1("test")

    def predict_step(self, batch: TaggingBatch, batch_idx: int) -> list[dict[str, Any]]:
        """Per sentence: ``tags`` in the data's scheme and ``entities``, each with its type,
        token span [start, end) and confidence (the mean CRF marginal probability of its tags,
        or softmax probability with a softmax head)."""
        prediction = self.decode(batch)
        results = []
        for tags, confidences, length in zip(
            prediction.tags.tolist(), prediction.confidences.tolist(), batch.lengths.tolist()
        ):
            data_tags = self.to_data_scheme(tags[:length])
            entities = [
                {
                    "type": type_,
                    "start": start,
                    "end": end,
                    "confidence": sum(confidences[start:end]) / (end - start),
                }
                for type_, start, end in extract_chunks(data_tags)
            ]
            results.append({"tags": data_tags, "entities": entities})
        return results
