"""Evaluation metrics."""

from nlptag.metrics.entity_f1 import EntityF1, extract_chunks

__all__ = ["EntityF1", "extract_chunks"]
