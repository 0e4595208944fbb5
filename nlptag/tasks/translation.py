"""Translation: attentional recurrent encoder-decoder trained with teacher forcing, scored with
sacreBLEU on detokenised output (greedy search on validation, beam search at test).

Shapes: ``B`` batch, ``S`` source length, ``T`` target length (with ``<s>`` and ``</s>``),
``V`` target vocabulary size.
"""

from __future__ import annotations

import sys

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from nlptag.encoding import TranslationBatch
from nlptag.errors import NlptagError
from nlptag.metrics.bleu import CorpusBLEU, bleu_signature
from nlptag.models.encoders import RecurrentEncoder
from nlptag.models.search import Hypotheses, beam_search, greedy_search, strip_special
from nlptag.models.seq2seq import (
    PAD_ID,
    DecoderFactory,
    EncoderFactory,
    RecurrentDecoder,
    Seq2Seq,
)
from nlptag.tasks.optimization import optimizer_config

SPLIT_OF_STAGE = {"val": "validation", "test": "test"}


class Translator(pl.LightningModule):
    """Sequence-to-sequence translation with attention.

    Args:
        source_vocab_size: source subword vocabulary size (linked from the data module).
        target_vocab_size: target subword vocabulary size (linked from the data module).
        shared_vocabulary: whether source and target share one vocabulary (linked).
        embedding_dim: source embedding size.
        encoder: builds the bidirectional encoder over source embeddings.
        decoder: builds the attentional decoder (cell, attention, input feeding, tying).
        share_embeddings: one embedding matrix for source and target (joint vocabulary only).
        embedding_dropout: dropout on the source embeddings.
        label_smoothing: cross-entropy label smoothing in training, in [0, 1).
        beam_size: beam size at test and predict time (1 = greedy).
        length_penalty: GNMT length penalty exponent alpha (0 = none).
        max_length_ratio: outputs are at most ``ceil(ratio * source length) + offset`` tokens.
        max_length_offset: see ``max_length_ratio``.
        optimizer: the optimizer, given the parameters.
        lr_scheduler: an optional LR schedule, stepped once per epoch; a ReduceLROnPlateau
            schedule watches ``val/loss``.
    """

    main_metric = "val/bleu"
    main_metric_mode = "max"

    def __init__(
        self,
        source_vocab_size: int = 4,
        target_vocab_size: int = 4,
        shared_vocabulary: bool = False,
        embedding_dim: int = 256,
        encoder: EncoderFactory = RecurrentEncoder,
        decoder: DecoderFactory = RecurrentDecoder,
        share_embeddings: bool = False,
        embedding_dropout: float = 0.3,
        label_smoothing: float = 0.1,
        beam_size: int = 5,
        length_penalty: float = 1.0,
        max_length_ratio: float = 1.5,
        max_length_offset: int = 10,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if share_embeddings and not shared_vocabulary:
            raise NlptagError(
                "model.init_args.share_embeddings needs one vocabulary for both languages "
                "(data.init_args.joint_vocabulary: true)"
            )
        if not 0.0 <= label_smoothing < 1.0:
            raise NlptagError("model.init_args.label_smoothing must be in [0, 1)")
        if beam_size < 1:
            raise NlptagError("model.init_args.beam_size must be at least 1")
        try:
            self.model = Seq2Seq(
                source_vocab_size,
                target_vocab_size,
                embedding_dim,
                encoder,
                decoder,
                share_embeddings,
                embedding_dropout,
            )
        except ValueError as error:
            raise NlptagError(f"model.init_args: {error}") from None
        self.label_smoothing = label_smoothing
        self.search_options = dict(
            max_length_ratio=max_length_ratio, max_length_offset=max_length_offset
        )
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.bleu = nn.ModuleDict(
            {"val": CorpusBLEU(), "test": CorpusBLEU(), "test_greedy": CorpusBLEU()}
        )

    def forward(self, batch: TranslationBatch) -> torch.Tensor:
        """Teacher-forced logits (B, T - 1, V) for predicting ``target[:, 1:]``."""
        return self.model(batch.source, batch.source_lengths, batch.target[:, :-1])

    def search(self, batch: TranslationBatch, beam_size: int, **kwargs) -> Hypotheses:
        """Greedy search for beam size 1, else beam search (hypotheses best first)."""
        if beam_size == 1:
            return greedy_search(
                self.model, batch.source, batch.source_lengths, **self.search_options, **kwargs
            )
        return beam_search(
            self.model,
            batch.source,
            batch.source_lengths,
            beam_size=beam_size,
            alpha=self.length_penalty,
            **self.search_options,
            **kwargs,
        )

    def translate_ids(
        self, batch: TranslationBatch, beam_size: int | None = None
    ) -> list[list[int]]:
        """The best hypothesis of each sentence as target ids without specials."""
        hypotheses = self.search(batch, beam_size or self.beam_size)
        return [strip_special(row) for row in hypotheses.tokens[:, 0].tolist()]

    def attention(
        self, batch: TranslationBatch, beam_size: int | None = None
    ) -> list[tuple[list[int], torch.Tensor]]:
        """For each sentence, the best hypothesis (target ids up to and including ``</s>``) and
        its attention weights (N, S_i): one row per output token, one column per source token."""
        hypotheses = self.search(batch, beam_size or self.beam_size, return_attention=True)
        results = []
        for tokens, weights, length in zip(
            hypotheses.tokens[:, 0].tolist(),
            hypotheses.attention[:, 0],
            batch.source_lengths.tolist(),
        ):
            kept = [t for t in tokens if t != PAD_ID]
            results.append((kept, weights[: len(kept), :length]))
        return results

    def _loss(self, batch: TranslationBatch, stage: str) -> torch.Tensor:
        logits = self(batch)
        gold = batch.target[:, 1:]
        smoothing = self.label_smoothing if stage == "train" else 0.0
        loss = nn.functional.cross_entropy(
            logits.flatten(0, 1).float(),
            gold.flatten(),
            ignore_index=PAD_ID,
            label_smoothing=smoothing,
        )
        tokens = int(gold.ne(PAD_ID).sum())
        self.log(
            f"{stage}/loss", loss, batch_size=tokens, sync_dist=stage != "train", prog_bar=True
        )
        return loss

    def _score(self, batch: TranslationBatch, stage: str, metric: str, beam_size: int) -> None:
        datamodule = self.trainer.datamodule
        references = datamodule.references(SPLIT_OF_STAGE[stage])
        hypotheses = [datamodule.decode_target(ids) for ids in self.translate_ids(batch, beam_size)]
        self.bleu[metric].update(hypotheses, [references[i] for i in batch.index.tolist()])

    def training_step(self, batch: TranslationBatch, batch_idx: int) -> torch.Tensor:
        return self._loss(batch, "train")

    def validation_step(self, batch: TranslationBatch, batch_idx: int) -> None:
        self._loss(batch, "val")
        self._score(batch, "val", "val", beam_size=1)

    def on_validation_epoch_end(self) -> None:
        self.log("val/bleu", self.bleu["val"].compute(), prog_bar=True)
        self.bleu["val"].reset()

    def test_step(self, batch: TranslationBatch, batch_idx: int) -> None:
        self._loss(batch, "test")
        self._score(batch, "test", "test", beam_size=self.beam_size)
        self._score(batch, "test", "test_greedy", beam_size=1)

    def on_test_epoch_end(self) -> None:
        self.log("test/bleu", self.bleu["test"].compute())
        self.log("test/bleu_greedy", self.bleu["test_greedy"].compute())
        for metric in ("test", "test_greedy"):
            self.bleu[metric].reset()
        if self.trainer.is_global_zero:
            print(
                f"BLEU signature: {bleu_signature()} (test/bleu: beam {self.beam_size})",
                file=sys.stderr,
            )

    def predict_step(self, batch: TranslationBatch, batch_idx: int) -> list[str]:
        """The best translation of each source sentence, detokenised."""
        decode = self.trainer.datamodule.decode_target
        return [decode(ids) for ids in self.translate_ids(batch)]

    def configure_optimizers(self):
        return optimizer_config(self.parameters(), self.optimizer, self.lr_scheduler)
