"""Evaluation metrics."""

from nlptag.metrics.bleu import CorpusBLEU, bleu_signature
from nlptag.metrics.entity_f1 import EntityF1, extract_chunks

__all__ = ["CorpusBLEU", "EntityF1", "bleu_signature", "extract_chunks"]
