"""nlptag: recurrent models for NLP, trained with PyTorch Lightning."""

__version__ = "0.1.0"
