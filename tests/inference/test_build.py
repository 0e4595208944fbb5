"""Networks from specs: factories vs instances, the allow-list checked before any import."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest
import torch

from nlptag.errors import NlptagError
from nlptag.inference.allowlist import NETWORK_CLASSES, TRAINING_CLASSES, check_class_paths
from nlptag.inference.build import build
from nlptag.models.tagger import TaggerNetwork
from tests.conftest import REPO

TAGGER = {
    "class_path": "nlptag.models.tagger.TaggerNetwork",
    "init_args": {
        "num_words": 7,
        "num_chars": 5,
        "tag_names": ["A", "B", "C"],
        "embedder": {
            "class_path": "nlptag.models.embeddings.WordEmbedder",
            "init_args": {
                "word_dim": 4,
                "char_features": {
                    "class_path": "nlptag.models.embeddings.CharCNN",
                    "init_args": {"char_dim": 3, "num_filters": 2},
                },
            },
        },
        "encoder": {
            "class_path": "nlptag.models.encoders.RecurrentEncoder",
            "init_args": {"hidden_size": 5, "num_layers": 1},
        },
        "head": {"class_path": "nlptag.models.heads.SoftmaxHead"},
    },
}


def test_a_spec_builds_the_network_it_describes():
    network = build(TAGGER, "spec")
    assert isinstance(network, TaggerNetwork)
    assert network.tag_names == ["A", "B", "C"]
    assert network.embedder.word_embedding.weight.shape == (7, 4)
    assert network.embedder.char_features.conv.out_channels == 2
    assert network.encoder.rnn.hidden_size == 5 and network.encoder.rnn.bidirectional
    assert network.head.projection.weight.shape == (3, 10)
    scores = network.scores(
        torch.tensor([[2, 3]]), torch.ones(1, 2, 3, dtype=torch.long), torch.tensor([2])
    )
    assert scores.shape == (1, 2, 3)


def test_callable_arguments_get_factories_and_given_arguments_override():
    search = build({"class_path": "nlptag.models.search.Search"}, "spec", beam_size=3)
    assert search.beam_size == 3 and search.length_penalty == 1.0
    network = build(TAGGER, "spec", num_words=11)
    assert network.embedder.word_embedding.num_embeddings == 11
    assert not isinstance(network.embedder.char_features, functools.partial)


@pytest.mark.parametrize(
    "where",
    [
        ("class_path",),
        ("init_args", "head", "class_path"),
        ("init_args", "embedder", "init_args", "char_features", "class_path"),
    ],
)
def test_a_class_outside_the_allow_list_is_refused_before_it_is_imported(where):
    """``xml.dom.minidom`` is never imported by nlptag or torch: after the refusal it must still
    be absent from ``sys.modules`` (checked in a fresh interpreter)."""
    script = f"""
import json, sys
from nlptag.errors import NlptagError
from nlptag.inference.build import build
spec = json.loads({json.dumps(TAGGER)!r})
node = spec
for key in {list(where[:-1])!r}:
    node = node[key]
node[{where[-1]!r}] = "xml.dom.minidom.parseString"
try:
    build(spec, "bundle")
except NlptagError as error:
    print(error)
print("imported" if "xml.dom.minidom" in sys.modules else "not imported")
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines == [
        "bundle: refusing untrusted class path 'xml.dom.minidom.parseString': not one of "
        "nlptag's own classes",
        "not imported",
    ]


def test_a_string_for_a_factory_argument_is_refused():
    spec = {**TAGGER, "init_args": {**TAGGER["init_args"], "head": "nlptag.models.crf.CRFHead"}}
    with pytest.raises(NlptagError, match="argument 'head' of .* must be a"):
        build(spec, "bundle")


def test_unknown_arguments_are_named():
    spec = {"class_path": "nlptag.models.search.Search", "init_args": {"beams": 3}}
    with pytest.raises(NlptagError, match="Search has no argument 'beams'"):
        build(spec, "bundle")


def test_the_network_allow_list_is_every_module_of_nlptag_models():
    """The allow-list is written out (so nothing is imported to check it); it must name exactly
    the network pieces of nlptag.models, plus the search settings."""
    import importlib
    import inspect
    import pkgutil

    from torch import nn

    import nlptag.models

    found = set()
    for info in pkgutil.iter_modules(nlptag.models.__path__):
        module = importlib.import_module(f"nlptag.models.{info.name}")
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == module.__name__:
                if issubclass(value, nn.Module) and not name.startswith("_"):
                    found.add(f"{module.__name__}.{name}")
    abstract = {
        "nlptag.models.attention.Attention",
        "nlptag.models.heads.TaggingHead",
        "nlptag.models.crf.CRF",
        "nlptag.models.captioning.CaptionDecoder",
    }
    internal = {"nlptag.models.dropout.Dropout"}  # a layer the networks build; no config names it
    searches = {"nlptag.models.search.Search", "nlptag.models.caption_search.CaptionSearch"}
    assert found - abstract - internal == NETWORK_CLASSES - searches
    assert NETWORK_CLASSES <= TRAINING_CLASSES


def test_checkpoint_hyperparameters_are_checked_at_any_depth():
    config = {
        "_class_path": "nlptag.tasks.tagging.SequenceTagger",
        "head": [{"class_path": "os.system"}],
    }
    with pytest.raises(NlptagError, match="'os.system'"):
        check_class_paths(config, "ckpt", TRAINING_CLASSES)
    check_class_paths(
        {"_class_path": "nlptag.tasks.tagging.SequenceTagger"}, "ckpt", TRAINING_CLASSES
    )
