import importlib
import sys
import uuid

import pytest

from nlptag.errors import NlptagError
from nlptag.inference.allowlist import (
    DATA_CLASSES,
    NETWORK_CLASSES,
    TASK_CLASSES,
    TRAINING_CLASSES,
    check_class_paths,
)
from nlptag.inference.build import build


@pytest.fixture
def untrusted_module(tmp_path, monkeypatch):
    """The name of a module on sys.path that no one has imported; importing it leaves a file."""
    name = f"untrusted_{uuid.uuid4().hex}"
    marker = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Payload:\n    pass\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, marker
    sys.modules.pop(name, None)


def test_the_throwaway_module_is_importable_so_an_import_would_show(untrusted_module):
    name, marker = untrusted_module
    assert importlib.import_module(name).Payload.__name__ == "Payload"
    assert name in sys.modules and marker.exists()


def test_a_class_path_outside_the_list_is_refused_before_its_module_is_imported(
    untrusted_module,
):
    name, marker = untrusted_module
    spec = {
        "class_path": "nlptag.models.search.Search",
        "init_args": {"beam_size": 2, "extra": [{"class_path": f"{name}.Payload"}]},
    }
    message = (
        f"^bundle: refusing untrusted class path '{name}.Payload': not one of nlptag's own classes$"
    )
    with pytest.raises(NlptagError, match=message):
        check_class_paths(spec, "bundle")
    with pytest.raises(NlptagError, match=message):
        build(spec, "bundle")
    assert name not in sys.modules
    assert not marker.exists()


def test_both_class_keys_are_checked_inside_lists_and_tuples():
    with pytest.raises(NlptagError, match="'os.system'"):
        check_class_paths({"a": ({"b": [{"_class_path": "os.system"}]},)}, "ckpt")
    with pytest.raises(NlptagError, match="'os.system'"):
        check_class_paths([{"class_path": "os.system"}], "ckpt")


def test_allowed_paths_pass_and_other_keys_are_not_class_paths():
    config = {
        "class_path": "nlptag.models.tagger.TaggerNetwork",
        "init_args": {"head": {"class_path": "nlptag.models.crf.CRFHead"}, "name": "os.system"},
    }
    assert check_class_paths(config, "bundle") is None


def test_the_default_list_is_the_network_one_and_training_adds_tasks_data_and_optimizers():
    task = {"class_path": "nlptag.tasks.tagging.SequenceTagger"}
    with pytest.raises(NlptagError, match="nlptag.tasks.tagging.SequenceTagger"):
        check_class_paths(task, "bundle")
    check_class_paths(task, "ckpt", TRAINING_CLASSES)
    for path in (
        "torch.optim.AdamW",
        "torch.optim.lr_scheduler.OneCycleLR",
        "data_modules.TaggingDataModule",
        "data_modules.conll.NERDataModule",
    ):
        assert path in TRAINING_CLASSES and path not in NETWORK_CLASSES
    assert NETWORK_CLASSES | TASK_CLASSES | DATA_CLASSES <= TRAINING_CLASSES
    assert "torch.optim.Optimizer" not in TRAINING_CLASSES


def test_every_allowed_torch_class_exists():
    """A misspelt optimizer or scheduler name would silently never match."""
    for path in sorted(p for p in TRAINING_CLASSES if p.startswith("torch.")):
        module, _, name = path.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name), type), path
