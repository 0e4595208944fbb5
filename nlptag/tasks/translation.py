"""Translation: attentional recurrent encoder-decoder trained with teacher forcing, scored with
sacreBLEU on detokenised output (greedy search on validation, beam search at test).

Shapes: ``B`` batch, ``S`` source length, ``T`` target length (with ``<s>`` and ``</s>``),
``V`` target vocabulary size.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from nlptag.errors import NlptagError
from nlptag.metrics.bleu import CorpusBLEU, bleu_signature
from nlptag.models.search import Search
from nlptag.models.seq2seq import Seq2Seq
from nlptag.tasks.optimization import optimizer_config
from nlptag.text.encoding import TranslationBatch
from nlptag.text.specials import PAD_ID

SHARED_VOCABULARY_NEEDED = (
    "model.init_args.network.init_args.share_embeddings needs one vocabulary for both languages "
    "(data.init_args.joint_vocabulary: true)"
)
NetworkFactory = Callable[[int, int], Seq2Seq]
"""(source_vocab_size, target_vocab_size) -> encoder-decoder."""


class Translator(pl.LightningModule):
    """Sequence-to-sequence translation with attention: trains the network with teacher forcing
    and label smoothing; ``search`` decides how test and predict outputs are searched for.

    Args:
        source_vocab_size: source subword vocabulary size (linked from the data module).
        target_vocab_size: target subword vocabulary size (linked from the data module).
        shared_vocabulary: whether source and target share one vocabulary (linked).
        network: builds the encoder-decoder from (source_vocab_size, target_vocab_size).
        search: beam size, length penalty and output length limits at test and predict time
            (validation is always greedy).
        label_smoothing: cross-entropy label smoothing in training, in [0, 1).
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
        network: NetworkFactory = Seq2Seq,
        search: Search | None = None,
        label_smoothing: float = 0.1,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not 0.0 <= label_smoothing < 1.0:
            raise NlptagError("model.init_args.label_smoothing must be in [0, 1)")
        try:
            self.network = network(source_vocab_size, target_vocab_size)
            self.search = search if search is not None else Search()
        except ValueError as error:
            if "share_embeddings" in str(error) and not shared_vocabulary:
                raise NlptagError(SHARED_VOCABULARY_NEEDED) from None
            raise NlptagError(f"model.init_args: {error}") from None
        shared = self.network.source_embedding.weight is self.network.decoder.embedding.weight
        if shared and not shared_vocabulary:
            raise NlptagError(SHARED_VOCABULARY_NEEDED)
        self.label_smoothing = label_smoothing

        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.decode_target: Callable[[list[int]], str] | None = None
        self.bleu = nn.ModuleDict(
            {"val": CorpusBLEU(), "test": CorpusBLEU(), "test_greedy": CorpusBLEU()}
        )

    def forward(self, batch: TranslationBatch) -> torch.Tensor:
        """Teacher-forced logits (B, T - 1, V) for predicting ``target[:, 1:]``."""
        return self.network(batch.source, batch.source_lengths, batch.target[:, :-1])

    def setup(self, stage: str) -> None:
        # the target tokenizer turns output ids into text; it belongs to the data module
        self.decode_target = self.trainer.datamodule.decode_target

    def translate_ids(
        self, batch: TranslationBatch, beam_size: int | None = None
    ) -> list[list[int]]:
        """The best hypothesis of each sentence as target ids without specials."""
        return self.search.best(self.network, batch.source, batch.source_lengths, beam_size)

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

    def _score(self, batch: TranslationBatch, metric: str, beam_size: int) -> None:
        hypotheses = [self.decode_target(ids) for ids in self.translate_ids(batch, beam_size)]
        self.bleu[metric].update(hypotheses, list(batch.references))

    def training_step(self, batch: TranslationBatch, batch_idx: int) -> torch.Tensor:
        return self._loss(batch, "train")

    def validation_step(self, batch: TranslationBatch, batch_idx: int) -> None:
        self._loss(batch, "val")
        self._score(batch, "val", beam_size=1)

    def on_validation_epoch_end(self) -> None:
        self.log("val/bleu", self.bleu["val"].compute(), prog_bar=True)
        self.bleu["val"].reset()

    def test_step(self, batch: TranslationBatch, batch_idx: int) -> None:
        self._loss(batch, "test")
        self._score(batch, "test", beam_size=self.search.beam_size)
        self._score(batch, "test_greedy", beam_size=1)

    def on_test_epoch_end(self) -> None:
        self.log("test/bleu", self.bleu["test"].compute())
        self.log("test/bleu_greedy", self.bleu["test_greedy"].compute())
        for metric in ("test", "test_greedy"):
            self.bleu[metric].reset()
        if self.trainer.is_global_zero:
            print(
                f"BLEU signature: {bleu_signature()} (test/bleu: beam {self.search.beam_size})",
                file=sys.stderr,
            )

    def predict_step(self, batch: TranslationBatch, batch_idx: int) -> list[str]:
        """The best translation of each source sentence, detokenised."""
        return [self.decode_target(ids) for ids in self.translate_ids(batch)]

    def configure_optimizers(self):
        return optimizer_config(self.parameters(), self.optimizer, self.lr_scheduler)
