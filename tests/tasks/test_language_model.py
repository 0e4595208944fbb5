import csv
import math
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.loggers import CSVLogger

from data_modules.text import CharLMDataModule, StreamChunks, stream_layout
from nlptag.callbacks.gradient_flow import GradientFlow, gradient_norms
from nlptag.callbacks.samples import SampleText
from nlptag.models.language_model import CharRNN, sample_next
from nlptag.tasks.language_model import CharLanguageModel

# The opening of Tiny Shakespeare (public domain), a small text to learn.
SHAKESPEARE = """First Citizen:
Before we proceed any further, hear me speak.

All:
Speak, speak.

First Citizen:
You are all resolved rather to die than to famish?

All:
Resolved. resolved.

First Citizen:
First, you know Caius Marcius is chief enemy to the people.

All:
We know't, we know't.

First Citizen:
Let us kill him, and we'll have corn at our own price.
Is't a verdict?

All:
No more talking on't; let it be done: away, away!
"""


def trainer(**kwargs) -> pl.Trainer:
    defaults = dict(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    return pl.Trainer(**{**defaults, **kwargs})


def language_model(vocabulary: list[str], **network) -> CharLanguageModel:
    return CharLanguageModel(
        num_chars=len(vocabulary),
        vocabulary=vocabulary,
        network=partial(CharRNN, **network),
        optimizer=partial(torch.optim.Adam, lr=0.01),
    )


def test_the_lectures_hello_example(tmp_path):
    """Vocabulary [h, e, l, o], training sequence "hello": after "h" the RNN says "ello"; only the
    hidden state tells the first "l" (followed by "l") from the second (followed by "o")."""
    (tmp_path / "hello.txt").write_text("hello")
    data = CharLMDataModule(
        train_file=str(tmp_path / "hello.txt"),
        validation_file=str(tmp_path / "hello.txt"),
        batch_size=1,
        bptt_steps=4,
    )
    assert data.vocabulary == ["<unk>", "e", "h", "l", "o"]
    pl.seed_everything(0)
    model = language_model(data.vocabulary, embedding_dim=4, cell="rnn", hidden_size=8)
    trainer(max_epochs=150, limit_val_batches=0).fit(model, data)
    assert model.generate("h", 4, temperature=0) == "ello"
    assert model.generate("h", 4, temperature=0.1, generator=torch.Generator().manual_seed(0)) == (
        "ello"
    )
    result = trainer().validate(model, data, verbose=False)[0]
    assert result["val/loss"] < 0.05
    assert result["val/bpc"] == pytest.approx(result["val/loss"] / math.log(2), rel=1e-5)
    assert result["val/ppl"] == pytest.approx(math.exp(result["val/loss"]), rel=1e-5)


def test_min_char_rnn_settings_learn_a_small_text(tmp_path):
    """A vanilla RNN with 100 hidden units on 25-step chunks, trained with Adagrad (lr 0.1) as in
    min-char-rnn, gets far below the uniform baseline ln(V) on a small text."""
    (tmp_path / "text.txt").write_text(SHAKESPEARE)
    data = CharLMDataModule(
        train_file=str(tmp_path / "text.txt"),
        validation_file=str(tmp_path / "text.txt"),
        batch_size=1,
        bptt_steps=25,
    )
    uniform = math.log(data.num_chars)
    pl.seed_everything(0)
    model = CharLanguageModel(
        num_chars=data.num_chars,
        vocabulary=data.vocabulary,
        network=partial(CharRNN, embedding_dim=32, cell="rnn", hidden_size=100),
        optimizer=partial(torch.optim.Adagrad, lr=0.1),
    )
    before = trainer().validate(model, data, verbose=False)[0]["val/loss"]
    assert before == pytest.approx(uniform, abs=0.2)
    trainer(max_epochs=15, limit_val_batches=0, gradient_clip_val=5.0).fit(model, data)
    after = trainer().validate(model, data, verbose=False)[0]["val/loss"]
    assert after < 0.25 * uniform


def chunks_of(text: str, vocabulary: list[str], bptt_steps: int) -> StreamChunks:
    ids = torch.tensor([vocabulary.index(c) for c in text])
    return StreamChunks(stream_layout(ids, 1), bptt_steps)


VOCABULARY = ["<unk>", "a", "b", "c", "d", "e", "f", "g", "h"]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "irnn"])
def test_tbptt_carries_the_state_but_not_the_gradient(cell):
    torch.manual_seed(0)
    model = language_model(VOCABULARY, embedding_dim=6, cell=cell, hidden_size=5, num_layers=2)
    first, second = chunks_of("abcdefghe", VOCABULARY, bptt_steps=4)  # "abcd" | "efgh"
    model.on_train_epoch_start()
    assert model.state("train") is None
    model.training_step(first, 0)

    # the state at the start of chunk 2 is the final state of chunk 1, cut from the graph
    _, final = model.network(first.inputs)
    carried = model.state("train")
    for got, expected in zip(
        carried if cell == "lstm" else [carried], final if cell == "lstm" else [final]
    ):
        assert torch.equal(got, expected)
        assert not got.requires_grad

    # the forward values are those of the untruncated sequence ...
    logits_whole, _ = model.network(torch.cat([first.inputs, second.inputs], dim=1))
    logits_second, _ = model(second.inputs, carried)
    torch.testing.assert_close(logits_second, logits_whole[:, 4:])

    # ... but chunk 2's loss sends no gradient into chunk 1: "a" to "d" occur only there
    model.zero_grad()
    model.training_step(second, 1).backward()
    assert model.network.embedding.weight.grad[1:5].abs().sum() == 0
    assert model.network.embedding.weight.grad[5:9].abs().sum() > 0
    model.zero_grad()  # full backpropagation through time would reach them
    full = F.cross_entropy(logits_whole[0, 4:], second.targets[0])
    full.backward()
    assert model.network.embedding.weight.grad[1:5].abs().sum() > 0

    model.on_train_epoch_start()  # a new epoch starts from zeros
    assert model.state("train") is None


def test_validation_loss_is_the_mean_over_all_characters(tmp_path):
    """Chunks of different lengths are weighted by their characters; the carried state makes the
    chunked loss equal to the loss of each whole stream."""
    text = "abcdefgh" * 5 + "hgfedcba" * 5  # 80 characters
    (tmp_path / "text.txt").write_text(text)
    data = CharLMDataModule(
        train_file=str(tmp_path / "text.txt"),
        validation_file=str(tmp_path / "text.txt"),
        batch_size=3,
        bptt_steps=7,  # 3 streams of 26 steps: chunks of 7, 7, 7 and 5
    )
    torch.manual_seed(0)
    model = language_model(data.vocabulary, embedding_dim=4, cell="gru", hidden_size=6)
    result = trainer().validate(model, data, verbose=False)[0]
    streams = stream_layout(data.encode(text), 3)
    with torch.no_grad():
        logits, _ = model.network(streams[:, :-1])
    expected = F.cross_entropy(logits.reshape(-1, logits.size(-1)), streams[:, 1:].reshape(-1))
    assert result["val/loss"] == pytest.approx(expected.item(), rel=1e-5)
    test = trainer().test(model, data, verbose=False)[0]  # no test file: the validation text
    assert test["test/loss"] == pytest.approx(result["val/loss"], rel=1e-6)


def test_generate_reads_unknown_characters_and_never_writes_them():
    torch.manual_seed(0)
    model = language_model(VOCABULARY, embedding_dim=4, cell="lstm", hidden_size=6)
    text = model.generate("ab€ z", 50, temperature=1.5, generator=torch.Generator().manual_seed(1))
    assert len(text) == 50
    assert set(text) <= set("abcdefgh")
    assert model.generate("a", 0) == ""
    greedy = model.generate("abc", 20, temperature=0)
    assert model.generate("abc", 20, top_k=1, generator=torch.Generator().manual_seed(2)) == greedy
    first = model.generate("abc", 30, generator=torch.Generator().manual_seed(3))
    assert model.generate("abc", 30, generator=torch.Generator().manual_seed(3)) == first
    with pytest.raises(ValueError, match="prime"):
        model.generate("", 5)


def test_sample_next_temperature_and_top_k():
    logits = torch.tensor([[0.0, 1.0, 3.0, 2.0]])
    assert sample_next(logits, temperature=0).tolist() == [2]
    generator = torch.Generator().manual_seed(0)
    drawn = {sample_next(logits, top_k=2, generator=generator).item() for _ in range(200)}
    assert drawn == {2, 3}
    cold = [sample_next(logits, temperature=0.05, generator=generator).item() for _ in range(50)]
    assert set(cold) == {2}


def test_tied_weights_share_the_embedding():
    network = CharRNN(10, embedding_dim=16, hidden_size=16, tie_weights=True)
    assert network.output.weight is network.embedding.weight
    with pytest.raises(ValueError, match="tie_weights"):
        CharRNN(10, embedding_dim=8, hidden_size=16, tie_weights=True)


def test_gradient_norms_follow_the_tanh_rnn_recursion():
    """dL/dh_{t-1} = W_hh^T (dL/dh_t * (1 - h_t^2)), the lecture's product of Jacobians."""
    torch.manual_seed(0)
    network = CharRNN(6, embedding_dim=3, cell="rnn", hidden_size=4).double()
    inputs = torch.tensor([[1, 2, 3, 4, 5, 1]])
    targets = torch.tensor([[2, 3, 4, 5, 1, 2]])
    norms = gradient_norms(network, inputs, targets)
    assert norms.shape == (6,)

    outputs, _ = network(inputs)
    hidden, _ = network.rnn(network.embedding(inputs))  # (1, T, H)
    hidden = hidden[0].detach().requires_grad_()
    loss = F.cross_entropy(network.output(hidden[-1:]), targets[0, -1:], reduction="sum")
    (grad,) = torch.autograd.grad(loss, hidden)
    expected = [grad[-1]]
    w_hh = network.rnn.weight_hh_l0
    for t in range(5, 0, -1):
        expected.append(w_hh.T @ (expected[-1] * (1 - hidden[t] ** 2)))
    torch.testing.assert_close(norms, torch.stack([g.norm() for g in expected]).detach())

    with torch.no_grad():
        w_hh.zero_()  # no recurrence: only the last state matters
    norms = gradient_norms(network, inputs, targets)
    assert norms[0] > 0 and norms[1:].abs().sum() == 0


def test_callbacks_log_samples_and_gradient_flow(tmp_path):
    (tmp_path / "text.txt").write_text(SHAKESPEARE)
    data = CharLMDataModule(train_file=str(tmp_path / "text.txt"), batch_size=2, bptt_steps=20)
    torch.manual_seed(0)
    model = language_model(data.vocabulary, embedding_dim=8, cell="lstm", hidden_size=8)
    flow = GradientFlow(every_n_steps=2)
    run = trainer(
        max_steps=4,
        limit_val_batches=0,
        logger=CSVLogger(tmp_path, name="", version=""),
        log_every_n_steps=1,
        callbacks=[SampleText(every_n_steps=2, prime="All:", length=30), flow],
    )
    run.fit(model, data)
    samples = (tmp_path / "samples.txt").read_text()
    assert samples.count("----- sample at step") == 2  # steps 2 and 4
    assert "All:" in samples
    assert [step for step, _ in flow.history] == [0, 2]
    assert all(len(norms) == 20 for _, norms in flow.history)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    logged = [
        (int(row["step"]), float(row["grad_flow/d16"])) for row in rows if row["grad_flow/d16"]
    ]
    assert logged == [(0, flow.history[0][1][16]), (2, flow.history[1][1][16])]
