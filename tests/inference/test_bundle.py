"""nlptag/inference/bundle.py: the format version written and read back, format-1 bundles
converted on reading, unknown versions refused in one line, quantization recorded."""

import json

import pytest
import torch
from safetensors.torch import save_file

import nlptag
from nlptag.cli import main
from nlptag.errors import NlptagError
from nlptag.hashing import sha256_of
from nlptag.inference.bundle import (
    FORMAT,
    FORMAT_VERSION,
    bundle_from_checkpoint,
    open_bundle,
    read_bundle,
    write_bundle,
)
from nlptag.inference.checkpoints import load_checkpoint
from nlptag.inference.int8 import FixedRangeInt8RNN

SENTENCES = ["ann met bob in paris", "the unknownword saw ann today in rome"]


@pytest.fixture(scope="module")
def ner(tiny_checkpoints):
    return tiny_checkpoints("ner")["checkpoint"]


def same_bundle(a, b) -> None:
    assert (a.task, a.network, a.labels, a.options) == (b.task, b.network, b.labels, b.options)
    assert (a.vocabularies, a.tokenizers, a.data_state) == (
        b.vocabularies,
        b.tokenizers,
        b.data_state,
    )
    assert a.model == b.model and a.data == b.data and a.quantization == b.quantization
    assert a.weights.keys() == b.weights.keys()
    assert all(torch.equal(a.weights[k], b.weights[k]) for k in a.weights)


def test_a_written_bundle_reads_back_as_the_same_bundle(ner, tmp_path):
    bundle = bundle_from_checkpoint(ner)
    write_bundle(bundle, tmp_path / "b")
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert (
        (config["format"], config["format_version"])
        == (FORMAT, FORMAT_VERSION)
        == (
            "nlptag-bundle",
            2,
        )
    )
    assert config["nlptag_version"] == nlptag.__version__
    assert config["files"] == {
        name: sha256_of(tmp_path / "b" / name)
        for name in ("model.safetensors", "vocabularies.json")
    }
    again = read_bundle(tmp_path / "b")
    same_bundle(again, bundle)
    assert again.source == str(tmp_path / "b") and again.onnx is None
    # and once more: re-exporting a bundle changes nothing
    write_bundle(again, tmp_path / "c")
    same_bundle(read_bundle(tmp_path / "c"), bundle)


def write_format_1(checkpoint, directory) -> None:
    """A format-1 bundle as nlptag wrote them before networks were modules of their own: the
    task module's hyperparameters and its state dict (``network.`` keys), no network spec."""
    state = load_checkpoint(checkpoint)
    data = dict(state["datamodule_hyper_parameters"])
    data.pop("_instantiator", None)
    data_state = state[data["_class_path"].rsplit(".", 1)[-1]]
    model = {k: v for k, v in state["hyper_parameters"].items() if k != "_instantiator"}
    directory.mkdir()
    save_file(
        {k: v.contiguous() for k, v in state["state_dict"].items()},
        str(directory / "model.safetensors"),
    )
    vocabularies = {k: v for k, v in data_state.items() if isinstance(v, list)}
    (directory / "vocabularies.json").write_text(json.dumps(vocabularies))
    other = {k: v for k, v in data_state.items() if not isinstance(v, list | str)}
    config = {
        "format": FORMAT,
        "format_version": 1,
        "model": model,
        "data": data,
        "data_state": other,
        "quantization": None,
        "files": {n: sha256_of(directory / n) for n in ("model.safetensors", "vocabularies.json")},
    }
    (directory / "config.json").write_text(json.dumps(config))


def test_a_format_1_bundle_is_converted_on_reading(ner, tmp_path):
    write_format_1(ner, tmp_path / "v1")
    assert all(k.startswith("network.") for k in load_checkpoint(ner)["state_dict"])
    converted = read_bundle(tmp_path / "v1")
    expected = bundle_from_checkpoint(ner)
    same_bundle(converted, expected)
    assert converted.options == {"tag_scheme": "iobes", "data_scheme": "iob1"}
    assert nlptag.load(tmp_path / "v1").predict(SENTENCES) == nlptag.load(ner).predict(SENTENCES)
    # re-exported, it is a format-2 bundle
    write_bundle(converted, tmp_path / "v2")
    assert json.loads((tmp_path / "v2" / "config.json").read_text())["format_version"] == 2


@pytest.mark.parametrize("version", [3, 0, None, "2"])
def test_an_unknown_format_version_is_refused_in_one_line(ner, tmp_path, capsys, version):
    write_bundle(bundle_from_checkpoint(ner), tmp_path / "b")
    path = tmp_path / "b" / "config.json"
    config = json.loads(path.read_text())
    config["format_version"] = version
    path.write_text(json.dumps(config))
    message = (
        f"{path}: bundle format version {version}; this nlptag reads versions 1, 2: re-export "
        "the bundle from its checkpoint with `nlptag export`"
    )
    with pytest.raises(NlptagError) as error:
        open_bundle(tmp_path / "b")
    assert str(error.value) == message
    assert main(["tag", str(tmp_path / "b"), "--text", "ann"]) == 2
    assert capsys.readouterr().err == f"nlptag: error: {message}\n"


def test_a_config_of_another_format_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(NlptagError, match="not an nlptag bundle config$"):
        read_bundle(tmp_path)
    with pytest.raises(NlptagError, match="is missing: .* is not an nlptag bundle$"):
        read_bundle(tmp_path / "nothing")
    with pytest.raises(NlptagError, match="does not exist \\(expected a bundle directory"):
        open_bundle(tmp_path / "nothing")


def test_quantization_is_recorded_and_weights_stay_float(ner, tmp_path):
    bundle = bundle_from_checkpoint(ner)
    bundle.quantization = "int8"
    write_bundle(bundle, tmp_path / "q")
    read = read_bundle(tmp_path / "q")
    assert read.quantization == "int8"
    assert {w.dtype for w in read.weights.values()} == {torch.float32, torch.bool}  # CRF masks
    network = read.build_network()
    assert isinstance(network.encoder.rnn, FixedRangeInt8RNN)
    assert type(network.head.projection) is torch.nn.Linear  # the head stays float


def test_writing_is_refused_over_a_non_empty_directory_or_a_file(ner, tmp_path):
    bundle = bundle_from_checkpoint(ner)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(
        NlptagError, match="is not empty; choose a new directory or pass --overwrite"
    ):
        write_bundle(bundle, tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    write_bundle(bundle, tmp_path / "full", overwrite=True)
    assert "keep.txt" not in {p.name for p in (tmp_path / "full").iterdir()}
    (tmp_path / "file").write_text("x")
    with pytest.raises(NlptagError, match="is a file; the bundle must go to a directory"):
        write_bundle(bundle, tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "full"]  # no staging left


def test_weights_that_do_not_fit_the_network_are_named(ner):
    bundle = bundle_from_checkpoint(ner)
    name = next(iter(bundle.weights))
    bundle.weights[name] = torch.zeros(1)
    with pytest.raises(
        NlptagError, match="the weights do not fit nlptag.models.tagger.TaggerNetwork"
    ):
        bundle.build_network()
