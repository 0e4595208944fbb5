"""benchmarks/profile_step's attribution on a tiny tagger: every microsecond of a profiled step
lands in exactly one category, the recurrent kernels' backward passes find their forward scopes,
and removing the instrumentation restores the modules and functions it wrapped."""

import contextlib
from functools import partial

import torch

from benchmarks import profile_step as ps
from benchmarks.common import FitStep
from nlptag.models import dropout as dropout_module
from nlptag.models import embeddings as embeddings_module
from nlptag.models import encoders as encoders_module
from nlptag.models.crf import CRFHead
from nlptag.models.embeddings import CharBiLSTM, CharCNN, WordEmbedder
from nlptag.models.encoders import RecurrentEncoder
from nlptag.tasks.tagging import SequenceTagger
from nlptag.text.encoding import TaggingBatch


def tiny_tagger(char_features=partial(CharBiLSTM, char_dim=4, hidden_size=3)) -> SequenceTagger:
    torch.manual_seed(0)
    return SequenceTagger(
        num_words=30,
        num_chars=12,
        tag_names=["O", "B-X", "I-X"],
        embedder=partial(WordEmbedder, word_dim=6, char_features=char_features),
        encoder=partial(RecurrentEncoder, hidden_size=5, num_layers=2, dropout=0.1),
        head=CRFHead,
    )


def batch(lengths: list[int]) -> TaggingBatch:
    time = max(lengths)
    mask = torch.arange(time)[None] < torch.tensor(lengths)[:, None]
    words = torch.randint(2, 30, (len(lengths), time)).masked_fill(~mask, 0)
    chars = torch.randint(1, 12, (len(lengths), time, 4)).masked_fill(~mask[..., None], 0)
    chars[..., 3] = 0  # words of at most 3 characters
    tags = torch.randint(0, 3, (len(lengths), time)).masked_fill(~mask, 0)
    return TaggingBatch(words, chars, tags, mask, torch.tensor(lengths))


def test_every_event_is_attributed_once_and_backward_finds_its_scope():
    model = tiny_tagger()
    model.train()
    optimizer = torch.optim.Adam(model.parameters())
    scopes = ps.instrument(model)
    categories = {**scopes.categories, ps.PREFIX + "step": ps.OTHER}
    record = torch.profiler.record_function
    try:
        with torch.profiler.profile(activities=[ps.CPU]) as prof:
            for lengths in ([5, 5, 4], [6, 2, 2]):  # padded run, then packed run
                with record(ps.PREFIX + "step"):
                    loss = model.head.loss(model(batch(lengths)), *batch(lengths)[2:4])
                    optimizer.zero_grad()
                    with record(ps.PREFIX + "backward"):
                        loss.backward()
                    optimizer.step()
    finally:
        scopes.remove()
    categories[ps.PREFIX + "backward"] = ps.AUTOGRAD
    seconds, calls, recorded, steps, wall, detail = ps.categorise(prof.events(), categories)
    assert steps == 2
    assert abs(sum(seconds.values()) - wall) <= 1e-6 * max(1, len(prof.events()))
    for category in (ps.WORD_LSTM, ps.CHAR_LSTM, ps.CRF, ps.EMBEDDING, ps.DROPOUT, ps.MATMUL):
        assert seconds.get(category, 0) > 0, category
    backward = {
        (name.removeprefix(ps.BACKWARD), category)
        for (category, name) in detail
        if name.startswith(ps.BACKWARD)
    }
    assert ("MkldnnRnnLayerBackward0", ps.WORD_LSTM) in backward  # the padded run's kernel
    assert ("EmbeddingBackward0", ps.EMBEDDING) in backward
    kernels = {ps.WORD_LSTM, ps.CHAR_LSTM}
    assert all(c in kernels for name, c in backward if name == "MkldnnRnnLayerBackward0")
    # the packed run's per-step cells stay with the word LSTM; the projection's matmul is its own
    addmm = {c for name, c in backward if name == "AddmmBackward0"}
    assert {ps.WORD_LSTM, ps.MATMUL} <= addmm <= kernels | {ps.MATMUL}
    assert ps.PACK_CHAR in seconds and ps.PACK_UNIQUE in seconds


def test_the_char_cnn_responses_and_pooling_have_their_own_categories():
    model = tiny_tagger(partial(CharCNN, char_dim=4, num_filters=3))
    model.train()
    scopes = ps.instrument(model)
    categories = {**scopes.categories, ps.PREFIX + "step": ps.OTHER}
    try:
        with torch.profiler.profile(activities=[ps.CPU]) as prof:
            with torch.profiler.record_function(ps.PREFIX + "step"):
                model.head.loss(model(batch([5, 4])), *batch([5, 4])[2:4]).backward()
    finally:
        scopes.remove()
    seconds, _, _, steps, _, detail = ps.categorise(prof.events(), categories)
    assert steps == 1 and seconds[ps.CHAR_CONV] > 0 and seconds[ps.CHAR_POOL] > 0
    backward = {(name.removeprefix(ps.BACKWARD), c) for c, name in detail if ps.BACKWARD in name}
    assert ("EmbeddingBagBackward0", ps.CHAR_CONV) in backward
    assert ("AmaxBackward0", ps.CHAR_POOL) in backward
    assert "filter_responses" not in vars(model.network.embedder.char_features)


def test_removing_the_scopes_restores_everything():
    model = tiny_tagger()
    originals = (
        encoders_module.pack_padded_sequence,
        embeddings_module.pad_packed_sequence,
        torch.unique,
        dropout_module.dropout,
        encoders_module.dropout,
        model.network.head.crf.neg_log_likelihood.__func__,
    )
    scopes = ps.instrument(model)
    assert torch.unique is not originals[2]
    scopes.remove()
    assert (
        encoders_module.pack_padded_sequence,
        embeddings_module.pad_packed_sequence,
        torch.unique,
        dropout_module.dropout,
        encoders_module.dropout,
        model.network.head.crf.neg_log_likelihood.__func__,
    ) == originals
    assert "loss" not in vars(model.network.head)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    assert not any(m._forward_hooks for m in model.network.encoder._layer_rnns)


def test_a_fit_steps_clipping_is_the_last_setting_of_it(tmp_path):
    """The trainer's value: the base config's 5.0 where the task config sets none, the one
    set after it otherwise (a config or a command-line override)."""
    second = tmp_path / "b.yaml"
    second.write_text("seed_everything: 1\n")
    assert FitStep("configs/demo.yaml", ["--config", str(second)]).clip == 5.0
    second.write_text("trainer:\n  gradient_clip_val: 0.25\n")
    assert FitStep("configs/demo.yaml", ["--config", str(second)]).clip == 0.25
    assert FitStep("configs/demo.yaml", ["--trainer.gradient_clip_val=0.5"]).clip == 0.5


def test_a_fit_step_trains_the_config_with_its_clipping(monkeypatch):
    """FitStep: the demo config's model takes one step with the base config's clipping."""
    from benchmarks import common

    clipped = []
    monkeypatch.setattr(common, "clip_grad_norm_", lambda p, norm: clipped.append(norm))
    torch.manual_seed(0)
    step = FitStep("configs/demo.yaml")
    assert step.clip == 5.0 and step.model.training
    before = [p.detach().clone() for p in step.parameters]
    phases = []

    def scope(phase):
        phases.append(phase)
        return contextlib.nullcontext()

    loss = step(next(iter(step.data.train_dataloader())), 0, scope)
    assert torch.isfinite(loss) and clipped == [5.0]
    assert phases == ["forward", "zero_grad", "backward", "optimizer"]
    assert any(not torch.equal(a, p) for a, p in zip(before, step.parameters))


def test_a_fit_step_takes_overrides_after_its_config():
    """FitStep's overrides reach the data module (profile_step's --batch-size): the batches of
    the demo config come 3 sentences at a time instead of the config's size."""
    step = FitStep("configs/demo.yaml", ["--data.init_args.batch_size=3"])
    batch = next(iter(step.data.train_dataloader()))
    assert step.data.hparams.batch_size == 3 and batch.words.shape[0] == 3
