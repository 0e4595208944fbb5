"""nlptag/inference/checkpoints.py: a task's hyperparameters become its network's spec, its
weights the network's, its data module state vocabularies and tokenizers."""

import pytest
import torch

from nlptag.errors import NlptagError
from nlptag.inference.checkpoints import (
    RECIPES,
    TRAINING_ONLY,
    load_checkpoint,
    network_weights,
    recipe_of,
    split_state,
)


def test_network_weights_drop_the_task_modules_prefix():
    a, b = torch.ones(2), torch.zeros(3, requires_grad=True)
    assert network_weights({"network.x": a, "network.y.z": b}).keys() == {"x", "y.z"}
    assert network_weights({"model.x": a}).keys() == {"x"}  # format-1 translators
    # mixed prefixes, or format-1 taggers with the pieces at the top level: kept as they are
    assert network_weights({"network.x": a, "head.y": b}).keys() == {"network.x", "head.y"}
    assert not network_weights({"x": b})["x"].requires_grad
    assert network_weights({}) == {}


def test_split_state_sorts_vocabularies_tokenizers_and_the_rest():
    state = {
        "words": ["<pad>", "<unk>", "a"],
        "tags": ("O", "B-X"),
        "source_tokenizer": '{"model": {}}',
        "max_word_length": 30,
        "empty": [],
        "mixed": ["a", 1],
    }
    vocabularies, tokenizers, other = split_state(state)
    assert vocabularies == {"words": ["<pad>", "<unk>", "a"], "tags": ["O", "B-X"], "empty": []}
    assert tokenizers == {"source_tokenizer": '{"model": {}}'}
    assert other == {"max_word_length": 30, "mixed": ["a", 1]}


def test_recipes_name_one_task_per_task_module():
    assert {r.task for r in RECIPES.values()} == {
        "tagging",
        "ner",
        "classification",
        "language_model",
        "translation",
        "captioning",
    }
    with pytest.raises(NlptagError, match="^ckpt: no model class recorded"):
        recipe_of({}, "ckpt")
    with pytest.raises(NlptagError, match="^ckpt: os.path is not an nlptag task module$"):
        recipe_of({"_class_path": "os.path"}, "ckpt")


def test_a_tagger_recipe_fills_the_default_classes():
    recipe = RECIPES["nlptag.tasks.ner.EntityTagger"]
    hparams = {"num_words": 7, "num_chars": 5, "tag_names": ["O", "S-X"], "tag_scheme": "iobes"}
    assert recipe.network(hparams) == {
        "class_path": "nlptag.models.tagger.TaggerNetwork",
        "init_args": {
            "num_words": 7,
            "num_chars": 5,
            "tag_names": ["O", "S-X"],
            "embedder": {"class_path": "nlptag.models.embeddings.WordEmbedder"},
            "encoder": {"class_path": "nlptag.models.encoders.RecurrentEncoder"},
            "head": {"class_path": "nlptag.models.heads.SoftmaxHead"},
        },
    }
    assert recipe.labels(hparams) == ["O", "S-X"]
    assert recipe.options(hparams) == {"tag_scheme": "iobes", "data_scheme": "iob2"}
    with pytest.raises(NlptagError, match="expected a class_path entry, found 'lstm'"):
        recipe.network({**hparams, "encoder": "lstm"})


def test_a_format_1_translator_gets_its_attention_class_from_the_kind():
    recipe = RECIPES["nlptag.tasks.translation.Translator"]
    hparams = {
        "source_vocab_size": 10,
        "target_vocab_size": 12,
        "decoder": {
            "class_path": "nlptag.models.seq2seq.RecurrentDecoder",
            "init_args": {"attention": "dot", "hidden_size": 8},
        },
        "beam_size": 4,
    }
    network = recipe.network(hparams)
    assert network["class_path"] == "nlptag.models.seq2seq.Seq2Seq"
    assert network["init_args"]["source_vocab_size"] == 10
    assert network["init_args"]["decoder"]["init_args"] == {
        "attention": {"class_path": "nlptag.models.attention.DotAttention"},
        "hidden_size": 8,
    }
    assert recipe.options(hparams) == {
        "search": {"class_path": "nlptag.models.search.Search", "init_args": {"beam_size": 4}}
    }


def test_checkpoints_hold_the_hyperparameters_and_lose_training_only_ones(tiny_checkpoints):
    from nlptag.inference.bundle import bundle_from_checkpoint

    checkpoint = tiny_checkpoints("classification")["checkpoint"]
    state = load_checkpoint(checkpoint)
    assert "optimizer" in state["hyper_parameters"]
    bundle = bundle_from_checkpoint(checkpoint)
    assert not set(TRAINING_ONLY) & set(bundle.model)
    assert bundle.labels == ["neg", "pos"] == state["hyper_parameters"]["label_names"]
    weights = {k[len("network.") :]: v for k, v in state["state_dict"].items()}
    assert bundle.weights.keys() == weights.keys()
    assert all(torch.equal(bundle.weights[k], weights[k]) for k in weights)


def test_a_file_that_is_no_checkpoint_is_one_line(tmp_path):
    torch.save({"weights": torch.ones(1)}, tmp_path / "plain.pt")
    with pytest.raises(NlptagError, match="is not a Lightning checkpoint written by `nlptag fit`$"):
        load_checkpoint(tmp_path / "plain.pt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a zip at all")
    with pytest.raises(NlptagError, match="is not a PyTorch checkpoint, or it is truncated"):
        load_checkpoint(tmp_path / "junk.ckpt")
    with pytest.raises(NlptagError, match="does not exist$"):
        load_checkpoint(tmp_path / "missing.ckpt")
