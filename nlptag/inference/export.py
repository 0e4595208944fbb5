"""Export: a checkpoint to a bundle (:mod:`nlptag.inference.bundle`), optionally with an ONNX
graph of the network, or marked for int8 (:mod:`nlptag.inference.int8`). Torch only: no
Lightning."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from nlptag.errors import NlptagError
from nlptag.inference.bundle import Bundle, Quantization, open_bundle, write_bundle
from nlptag.inference.predictors import ScoringPredictor, onnx_session, predictor_class

ONNX_OPSET = 17


class ScoreGraph(nn.Module):
    """The part of a network that is exported: (words, chars, lengths) -> its ``scores``."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(
        self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Scores (B, T, C) or (B, C) from words (B, T), chars (B, T, L), lengths (B,)."""
        return self.network.scores(words, chars, lengths)


def example_inputs(num_words: int, num_chars: int) -> tuple[torch.Tensor, ...]:
    """A padded batch of two sentences (3 and 2 words; words of 1 to 4 characters) to trace:
    words (2, 3), chars (2, 3, 4), lengths (2,)."""
    generator = torch.Generator().manual_seed(0)
    words = torch.randint(2, max(num_words, 3), (2, 3), generator=generator)
    chars = torch.randint(2, max(num_chars, 3), (2, 3, 4), generator=generator)
    words[1, 2] = 0
    chars[1, 2] = 0
    chars[0, 0, 1:] = 0
    chars[1, 1, 2:] = 0
    return words, chars, torch.tensor([3, 2])


def export_onnx(bundle: Bundle, predictor: type[ScoringPredictor], path: Path) -> None:
    """Write the network of ``bundle`` up to its scores as ONNX (legacy TorchScript exporter, which
    handles packed bidirectional RNNs), with dynamic batch, time and word-length axes; checked
    against torch on the tracing batch."""
    graph = ScoreGraph(bundle.build_network()).eval()
    inputs = example_inputs(len(bundle.vocabularies["words"]), len(bundle.vocabularies["chars"]))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow
        torch.onnx.export(
            graph,
            inputs,
            str(path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["words", "chars", "lengths"],
            output_names=["scores"],
            dynamic_axes={
                "words": {0: "batch", 1: "time"},
                "chars": {0: "batch", 1: "time", 2: "word_length"},
                "lengths": {0: "batch"},
                "scores": predictor.score_axes,
            },
        )
        expected = graph(*inputs)
    words, chars, lengths = (tensor.numpy() for tensor in inputs)
    feed = {"words": words, "chars": chars, "lengths": lengths}
    got = torch.from_numpy(onnx_session(path).run(None, feed)[0])
    if not torch.allclose(got, expected, atol=1e-4):
        raise NlptagError(f"the ONNX graph disagrees with torch ({(got - expected).abs().max()})")


def export(
    source: str | Path,
    out_dir: str | Path,
    onnx: bool = False,
    quantize: Quantization | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the bundle of ``source`` (a checkpoint, or a bundle to re-export) to ``out_dir``;
    a non-empty ``out_dir`` is refused unless ``overwrite``. ``onnx`` with ``quantize`` is refused:
    the ONNX graph is the float network, and int8 quantization applies to the torch backend."""
    if onnx and quantize is not None:
        raise NlptagError(
            f"--onnx with --quantize {quantize}: the ONNX graph is float only and quantization "
            "applies to the torch backend; export two bundles, one with each option"
        )
    bundle = open_bundle(source)
    predictor = predictor_class(bundle)
    bundle.build_network()  # fails here, not at load time, if the network cannot be rebuilt
    bundle.quantization = quantize
    if quantize is not None:
        bundle.build_network()
    with tempfile.TemporaryDirectory() as scratch:
        onnx_file = None
        if onnx:
            if not issubclass(predictor, ScoringPredictor):
                raise NlptagError(f"--onnx: not available for the {predictor.task} task")
            onnx_file = Path(scratch) / "model.onnx"
            export_onnx(bundle, predictor, onnx_file)
        write_bundle(bundle, out_dir, onnx_file, overwrite)
    return Path(out_dir)
