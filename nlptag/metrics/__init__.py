"""Evaluation metrics: entity F1 (conlleval), corpus BLEU (sacreBLEU). Import the submodules."""
