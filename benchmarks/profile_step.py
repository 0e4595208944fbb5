"""A torch.profiler profile of the tagger's training step, split into categories of work.

For each config (POS, NER) the script runs Lightning's automatic-optimization step by hand on
real batches of the data module: the batch from the training dataloader, ``training_step``
(forward + loss), ``zero_grad``, ``backward``, gradient clipping at the config's
``gradient_clip_val`` and the optimizer step (``benchmarks.common.FitStep``: built as
``nlptag fit`` builds it, glibc's freed memory kept for reuse included), on ``--threads`` torch
threads. After
``--warmup`` steps, ``--steps`` steps run under ``torch.profiler``.

Attribution, without touching the package: forward pre/post hooks open and close
``record_function`` scopes around submodules (the word ``nn.LSTM``, also as the encoder runs it
layer by layer; the character ``nn.LSTM`` or CNN filter responses; embeddings; the projection), and
the script wraps, for the profiled steps only, ``pack_padded_sequence`` / ``pad_packed_sequence``
where the models import them, ``torch.unique``, nlptag's ``dropout``, the head's ``loss`` and the
CRF's ``neg_log_likelihood``. Each operator's time goes to its innermost scope (matmuls outside the
recurrent scopes go to "other matmuls"). A backward node gets the scope of the forward operator
that created it, matched by autograd's sequence number. What no scope holds (AccumulateGrad and the
autograd engine between nodes; Python and dispatch outside any scope) is reported as such: "other /
Python" is the wall time of the step minus everything attributed.

The step is also timed without the profiler and the hooks, and compared with the bare recurrent
kernels at the same shapes, forward + backward: the word BiLSTM (``nn.LSTM`` on the dense
(B, T, E) input where the encoder runs the batch padded, on the packed input where it runs it
packed) plus, when the tagger has one, the character BiLSTM on the batch's distinct non-empty
spellings, on dense input in the two length buckets ``CharBiLSTM`` splits them into; and, as a
second reference, both on one dense block each.

``--batch-size`` (repeatable) profiles each config at the given batch sizes instead of its own,
to show how the split moves with the batch.

    NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.profile_step \
        --steps 20 --out benchmarks/results/profile_step.md
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from benchmarks.common import FitStep, commit, cpu_model, machine, today
from nlptag.files import write_text_atomically
from nlptag.models import dropout as dropout_module
from nlptag.models import embeddings as embeddings_module
from nlptag.models import encoders as encoders_module
from nlptag.models.embeddings import CharBiLSTM, CharCNN
from nlptag.models.encoders import MAX_PADDING, length_buckets

TASKS = {
    "pos": ("POS", "configs/pos/ud_ewt.yaml"),
    "ner": ("NER", "configs/ner/conll2003.yaml"),
    "ner_flair": ("NER, flair's model", "configs/ner/conll2003_flair.yaml"),
}
PREFIX = "nlptag::"

WORD_LSTM = "word BiLSTM kernel (nn.LSTM fwd + bwd)"
CHAR_LSTM = "char BiLSTM kernel (nn.LSTM fwd + bwd)"
CHAR_CONV = "char CNN filter responses (table lookups, fwd + bwd)"
MATMUL = "other matmuls (linear / addmm / mm / bmm)"
CRF = "CRF (forward algorithm + path score)"
LOSS = "softmax loss / head glue"
EMBEDDING = "embeddings (lookups, word dropout, concat, gather)"
DROPOUT = "dropout (nlptag.models.dropout)"
PACK_ENCODER = "packing: encoder (reversal gathers, mask, cat; pack/unpack if packed)"
PACK_CHAR = "packing: char BiLSTM (buckets, reversal gathers, final states; pack if packed)"
PACK_UNIQUE = "packing: distinct spellings (torch.unique)"
CHAR_POOL = "char CNN max-pool and bias"
OPTIMIZER = "optimizer (zero_grad, clip, step)"
DATA = "data loading / collation (next(loader))"
AUTOGRAD = "autograd engine + AccumulateGrad"
OTHER = "other / Python overhead (step - attributed)"
ORDER = [
    WORD_LSTM,
    CHAR_LSTM,
    CHAR_CONV,
    MATMUL,
    CRF,
    LOSS,
    EMBEDDING,
    DROPOUT,
    PACK_ENCODER,
    PACK_CHAR,
    PACK_UNIQUE,
    CHAR_POOL,
    OPTIMIZER,
    DATA,
    AUTOGRAD,
    OTHER,
]
RECURRENT_AND_LINEAR = (WORD_LSTM, CHAR_LSTM, MATMUL)
KERNELS = (WORD_LSTM, CHAR_LSTM, CHAR_CONV)  # scopes whose matmuls stay theirs
MATMUL_OPS = {"aten::linear", "aten::addmm", "aten::mm", "aten::bmm", "aten::matmul"}
BACKWARD = "autograd::engine::evaluate_function: "
CPU = torch.profiler.ProfilerActivity.CPU


class Scopes:
    """``record_function`` scopes around modules (hooks) and functions (wrappers), removable."""

    def __init__(self) -> None:
        self.handles = []
        self.restores = []
        self.stack = []
        self.categories: dict[str, str] = {}

    def name(self, scope: str, category: str) -> str:
        self.categories[PREFIX + scope] = category
        return PREFIX + scope

    def module(self, module: nn.Module, scope: str, category: str) -> None:
        name = self.name(scope, category)

        def enter(*_) -> None:
            record = torch.profiler.record_function(name)
            record.__enter__()
            self.stack.append(record)

        def leave(*_) -> None:
            self.stack.pop().__exit__(None, None, None)

        self.handles += [
            module.register_forward_pre_hook(enter),
            module.register_forward_hook(leave),
        ]

    def function(self, owner, attribute: str, scope: str, category: str) -> None:
        name = self.name(scope, category)
        original = getattr(owner, attribute)
        in_dict = isinstance(owner, nn.Module) and attribute not in vars(owner)

        def wrapped(*args, **kwargs):
            with torch.profiler.record_function(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, wrapped)
        if in_dict:  # an instance attribute shadowing the method: delete it to restore
            self.restores.append(lambda: delattr(owner, attribute))
        else:
            self.restores.append(lambda: setattr(owner, attribute, original))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        for restore in reversed(self.restores):
            restore()
        self.handles, self.restores = [], []


def instrument(model) -> Scopes:
    network = model.network
    embedder, encoder, head = network.embedder, network.encoder, network.head
    scopes = Scopes()
    scopes.module(embedder, "embedder", EMBEDDING)
    scopes.module(embedder.word_embedding, "word_embedding", EMBEDDING)
    chars = embedder.char_features
    if isinstance(chars, CharBiLSTM):
        scopes.module(chars, "char_features", PACK_CHAR)  # nonzero, index_select, gathers
        scopes.module(chars.embedding, "char_embedding", EMBEDDING)
        scopes.module(chars.lstm, "char_lstm", CHAR_LSTM)  # the packed run
        for index, layer_rnn in enumerate(chars._layer_rnns):  # the padded run, per direction
            scopes.module(layer_rnn, f"char_lstm_layer{index}", CHAR_LSTM)
    elif isinstance(chars, CharCNN):
        scopes.module(chars, "char_features", CHAR_POOL)
        scopes.module(chars.embedding, "char_embedding", EMBEDDING)
        scopes.function(chars, "filter_responses", "char_responses", CHAR_CONV)
    scopes.module(encoder, "encoder", PACK_ENCODER)  # reversal index and gathers, cat, mask
    scopes.module(encoder.rnn, "word_lstm", WORD_LSTM)  # the packed run
    for index, layer_rnn in enumerate(encoder._layer_rnns):  # the padded, layer-by-layer run
        scopes.module(layer_rnn, f"word_lstm_layer{index}", WORD_LSTM)
    scopes.module(head.projection, "projection", MATMUL)
    scopes.function(head, "loss", "head_loss", LOSS)
    if hasattr(head, "crf"):
        scopes.function(head.crf, "neg_log_likelihood", "crf", CRF)
    for module, where, category in (
        (encoders_module, "encoder", PACK_ENCODER),
        (embeddings_module, "char", PACK_CHAR),
    ):
        scopes.function(module, "pack_padded_sequence", f"pack_{where}", category)
        scopes.function(module, "pad_packed_sequence", f"unpack_{where}", category)
    scopes.function(torch, "unique", "unique", PACK_UNIQUE)
    for module in (dropout_module, encoders_module):  # Dropout's and run_padded's calls
        scopes.function(module, "dropout", "dropout", DROPOUT)
    return scopes


def categorise(events, categories: dict[str, str]) -> tuple[dict, dict, dict, int, float, Counter]:
    """Seconds, operator calls and recorded events (scopes too) per category over the profiled
    steps, the number of steps, their wall seconds and the self seconds of each (category,
    event name). Each event's self time goes to the category it sits in; events are
    walked in time order, so a backward node finds the category of the forward operator that
    created it (the last one recorded with its sequence number: numbers are peeked before the
    node takes one)."""
    seconds: dict[str, float] = defaultdict(float)
    calls: Counter = Counter()
    recorded: Counter = Counter()
    detail: Counter = Counter()
    forward_seq: dict[int, str] = {}

    def category_of(event, inherited: str) -> str:
        name = event.name
        if name in categories:
            return categories[name]
        if name.startswith(BACKWARD):
            if "AccumulateGrad" in name:
                return AUTOGRAD
            return forward_seq.get(event.sequence_nr, AUTOGRAD)
        if name in MATMUL_OPS and inherited not in KERNELS:
            return MATMUL
        return inherited

    def walk(event, inherited: str, backward: bool) -> None:
        category = category_of(event, inherited)
        backward = backward or event.name.startswith(BACKWARD)
        if not backward and event.sequence_nr >= 0 and not event.name.startswith(PREFIX):
            forward_seq[event.sequence_nr] = category
        children = sorted(event.cpu_children, key=lambda e: e.time_range.start)
        own = event.time_range.elapsed_us() - sum(c.time_range.elapsed_us() for c in children)
        seconds[category] += own / 1e6
        detail[category, event.name] += own / 1e6
        recorded[category] += 1
        if not event.name.startswith(PREFIX):
            calls[category] += 1
        for child in children:
            walk(child, category, backward)

    steps = sorted(
        (e for e in events if e.name == PREFIX + "step" and e.cpu_parent is None),
        key=lambda e: e.time_range.start,
    )
    for step in steps:
        walk(step, OTHER, False)
    wall = sum(step.time_range.elapsed_us() for step in steps) / 1e6
    return dict(seconds), dict(calls), dict(recorded), len(steps), wall, detail


def spelling_lengths(batch) -> tuple[torch.Tensor, int]:
    """Character counts of the batch's distinct non-empty spellings and their padded length."""
    unique = torch.unique(batch.chars.reshape(-1, batch.chars.size(2)), dim=0)
    lengths = unique.ne(0).sum(dim=1)
    lengths = lengths[lengths > 0]
    return lengths, int(lengths.max())


def leaf_packed(lengths: torch.Tensor, time_steps: int, size: int) -> PackedSequence:
    """A packed batch whose data is a leaf tensor (so backward stops at it), unsorted as the
    tagger packs with ``enforce_sorted=False``."""
    packed = pack_padded_sequence(
        torch.zeros(lengths.numel(), time_steps, size),
        lengths,
        batch_first=True,
        enforce_sorted=False,
    )
    data = torch.randn(packed.data.shape, requires_grad=True)
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)


def dense_leaf(size: int, time_steps: int, rnn: nn.LSTM) -> torch.Tensor:
    """A dense (B, T, E) leaf input for ``rnn`` (so backward stops at it)."""
    return torch.randn(size, time_steps, rnn.input_size, requires_grad=True)


def fastest(functions: dict, repeat: int) -> dict[str, tuple[float, float]]:
    """The fastest of ``repeat`` passes of each function, interleaved so that a busy spell of
    the machine hits all of them alike: name -> (wall seconds, CPU seconds), after a warm-up
    call of each."""
    for function in functions.values():
        function()
    best = {name: (float("inf"), float("inf")) for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            wall, cpu = time.perf_counter(), time.process_time()
            function()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def profiler_cost(count: int = 20000, trials: int = 3) -> float:
    """Seconds the CPU profiler adds per recorded event of an in-place add on a tiny tensor
    (the median of ``trials``)."""
    x = torch.zeros(4)

    def adds() -> None:
        for _ in range(count):
            x.add_(1.0)

    adds()
    costs = []
    for _ in range(trials):
        plain = timeit(adds)
        with torch.profiler.profile(activities=[CPU]) as prof:
            profiled = timeit(adds)
        costs.append(max(0.0, profiled - plain) / max(len(prof.events()), 1))
    return sorted(costs)[trials // 2]


def timeit(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def profile_task(
    config: str, warmup: int, steps: int, repeat: int, batch_size: int | None = None
) -> dict:
    torch.manual_seed(0)
    overrides = [] if batch_size is None else [f"--data.init_args.batch_size={batch_size}"]
    lightning_step = FitStep(config, overrides)
    model, clip = lightning_step.model, lightning_step.clip
    loader = iter(lightning_step.data.train_dataloader())
    seen = []

    def profiled_step(index: int, source) -> None:
        record = torch.profiler.record_function
        with record(PREFIX + "step"):
            with record(PREFIX + "data"):
                batch = source(index)
            lightning_step(batch, index, lambda phase: record(PREFIX + phase))

    loading = [0.0]  # wall seconds in next(loader), pass 0

    def from_loader(index: int):
        start = time.perf_counter()
        seen.append(next(loader))
        loading[0] += time.perf_counter() - start
        return seen[-1]

    with warnings.catch_warnings():
        # self.log without a trainer only warns; a Lightning run would log the loss
        warnings.filterwarnings("ignore", message=".*self.log.*")
        warnings.filterwarnings("ignore", message=".*trainer.*reference.*")
        for index in range(warmup):
            lightning_step(next(loader), index)
        scopes = instrument(model)
        categories = dict(scopes.categories)
        categories.update(
            {
                PREFIX + "step": OTHER,
                PREFIX + "data": DATA,
                PREFIX + "forward": OTHER,
                PREFIX + "zero_grad": OPTIMIZER,
                PREFIX + "backward": AUTOGRAD,
                PREFIX + "optimizer": OPTIMIZER,
            }
        )
        # pass 0 takes the batches from the dataloader; later passes rerun the same batches,
        # and the fastest pass is reported (the machine's other work slows some passes down)
        passes = []  # (training wall seconds, CPU seconds, profile)
        try:
            for number in range(max(1, repeat)):
                source = from_loader if number == 0 else seen.__getitem__
                with torch.profiler.profile(activities=[CPU]) as prof:
                    wall, cpu = time.perf_counter(), time.process_time()
                    for index in range(steps):
                        profiled_step(index, source)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                if number == 0:
                    wall, cpu = wall - loading[0], cpu - loading[0]
                passes.append((wall, cpu, prof))
        finally:
            scopes.remove()
    pass_walls = [wall / steps for wall, _, _ in passes]
    number = pass_walls.index(min(pass_walls))
    _, profiled_cpu, prof = passes[number]
    seconds, calls, recorded, profiled, profiled_wall, detail = categorise(
        prof.events(), categories
    )
    if number:  # the chosen pass read the batches from a list: take pass 0's dataloader time
        first = categorise(passes[0][2].events(), categories)
        profiled_wall += (first[0].get(DATA, 0.0) - seconds.get(DATA, 0.0)) * profiled / first[3]
        for ours, theirs in zip((seconds, calls, recorded), first[:3]):
            ours[DATA] = theirs.get(DATA, 0) * profiled / first[3]
        for key in [key for key in detail if key[0] == DATA]:
            del detail[key]
        detail.update({key: t for key, t in first[5].items() if key[0] == DATA})
    operators = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:8]
    total_self = sum(e.self_cpu_time_total for e in prof.key_averages())
    del passes

    tokens = sum(int(b.mask.sum()) for b in seen) / len(seen)
    sentences = sum(b.words.size(0) for b in seen) / len(seen)

    # the bare kernels at the same shapes
    rnn = model.network.encoder.rnn
    chars = model.network.embedder.char_features
    bare_word = nn.LSTM(
        rnn.input_size,
        rnn.hidden_size,
        rnn.num_layers,
        batch_first=True,
        bidirectional=rnn.bidirectional,
    )
    bare_char = None
    if isinstance(chars, CharBiLSTM):
        bare_char = nn.LSTM(
            chars.lstm.input_size, chars.lstm.hidden_size, batch_first=True, bidirectional=True
        )
    padded_batches = 0
    as_tagger, dense = [], []
    char_cells = char_real = 0
    for batch in seen:
        size, time_steps = batch.words.shape
        padding = 1.0 - float(batch.lengths.sum()) / (size * time_steps)
        word_dense = torch.randn(size, time_steps, rnn.input_size, requires_grad=True)
        word_run = word_dense
        if padding <= MAX_PADDING:
            padded_batches += 1
        else:
            word_run = leaf_packed(batch.lengths, time_steps, rnn.input_size)
        char_buckets, char_dense = [], []
        if bare_char is not None:
            lengths, longest = spelling_lengths(batch)
            char_cells += lengths.numel() * longest
            char_real += int(lengths.sum())
            for _, bucket in length_buckets(lengths):
                char_buckets.append(dense_leaf(bucket.numel(), int(bucket[-1]), bare_char))
            char_dense.append(dense_leaf(lengths.numel(), longest, bare_char))
        as_tagger.append((word_run, char_buckets))
        dense.append((word_dense, char_dense))

    def run_bare(inputs) -> None:
        for word, spellings in inputs:
            output = bare_word(word)[0]
            (output.data if isinstance(output, PackedSequence) else output).sum().backward()
            for spelling in spellings:
                bare_char(spelling)[0].sum().backward()

    def tagger() -> None:  # the same batches, without profiler or hooks
        for index, batch in enumerate(seen):
            lightning_step(batch, index)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*self.log.*")
        timings = fastest(
            {
                "tagger": tagger,
                "bare": lambda: run_bare(as_tagger),
                "dense": lambda: run_bare(dense),
            },
            repeat,
        )
    (step_wall, step_cpu), (bare_wall, bare_cpu), (dense_wall, dense_cpu) = (
        (wall / len(seen), cpu / len(seen)) for wall, cpu in timings.values()
    )
    return {
        "config": config,
        "batch_size": batch_size,
        "clip": clip,
        "steps": profiled,
        "pass": number,
        "passes": len(pass_walls),
        "pass_walls": pass_walls,
        "profiled_cpu": profiled_cpu / profiled,
        "warmup": warmup,
        "seconds": seconds,
        "calls": calls,
        "recorded": recorded,
        "event_cost": profiler_cost(),
        "detail": detail,
        "profiled_wall": profiled_wall / profiled,
        "tokens": tokens,
        "sentences": sentences,
        "step_wall": step_wall,
        "step_cpu": step_cpu,
        "bare_wall": bare_wall,
        "bare_cpu": bare_cpu,
        "dense_wall": dense_wall,
        "dense_cpu": dense_cpu,
        "has_char_lstm": bare_char is not None,
        "padded": padded_batches,
        "char_padding": 1.0 - char_real / char_cells if char_cells else None,
        "operators": [
            (e.key, e.count / profiled, e.self_cpu_time_total / total_self) for e in operators
        ],
    }


def short(name: str) -> str:
    """An operator's name without the autograd engine's or the script's prefix."""
    return name.removeprefix(BACKWARD).removeprefix("torch::autograd::").removeprefix(PREFIX)


def batch_label(r: dict) -> str:
    """``", batch size N"`` where ``--batch-size`` set the batch size, else nothing."""
    return "" if r["batch_size"] is None else f", batch size {r['batch_size']}"


def report(title: str, r: dict) -> tuple[list[str], dict]:
    n = r["steps"]
    seconds = {k: v / n for k, v in r["seconds"].items()}
    calls = {k: v / n for k, v in r["calls"].items()}
    step = r["profiled_wall"]
    seconds[OTHER] = step - sum(v for k, v in seconds.items() if k != OTHER)
    # the profiler's own cost per recorded event (calibrated on tiny operators), charged to the
    # category of each event
    events = sum(r["recorded"].values()) / n
    cost = r["event_cost"]
    corrected = {k: max(0.0, v - cost * r["recorded"].get(k, 0) / n) for k, v in seconds.items()}
    corrected_step = sum(corrected.values())

    def outside(values: dict, total: float, extra: tuple = ()) -> float:
        return 1.0 - sum(values.get(k, 0.0) for k in RECURRENT_AND_LINEAR + extra) / total

    lines = [
        f"### {title} (`{r['config']}`{batch_label(r)})",
        "",
        f"{n} profiled steps after {r['warmup']} warm-up steps; {r['sentences']:.1f} sentences "
        f"and {r['tokens']:.0f} tokens per batch on average; the encoder ran {r['padded']} of "
        f"the {n} batches padded (dense fused kernels) and {n - r['padded']} packed; gradient "
        f"clipping at {r['clip']}. The fastest of {r['passes']} profiled passes over these "
        f"batches (training ms/step per pass: "
        f"{', '.join(f'{1000 * w:.1f}' for w in r['pass_walls'])}; the chosen one used "
        f"{100 * r['profiled_cpu'] / r['pass_walls'][r['pass']]:.0f}% of a core). The "
        f"profiler's cost, {1e6 * cost:.2f} us per recorded event (calibrated on tiny "
        f"operators; {events:,.0f} events per step), is taken off each category's events in "
        "the columns 'cost removed'.",
        "",
        "| category | ms/step | % of step | ms/step, profiler cost removed | % | operator "
        "calls/step | largest self times under the profiler (ms/step) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for category in ORDER:
        if category not in seconds:
            continue
        value, fixed = seconds[category], corrected[category]
        count = f"{calls.get(category, 0):,.0f}" if category != OTHER else ""
        top = sorted(
            ((t, name) for (c, name), t in r["detail"].items() if c == category), reverse=True
        )[:3]
        names = ", ".join(f"`{short(name)}` {1000 * t / n:.1f}" for t, name in top)
        if category == OTHER:
            names = "Python and dispatch outside every scope (training_step's own lines)"
        lines.append(
            f"| {category} | {1000 * value:.1f} | {100 * value / step:.1f} | {1000 * fixed:.1f} "
            f"| {100 * fixed / corrected_step:.1f} | {count} | {names} |"
        )
    lines += [
        f"| **whole step** | **{1000 * step:.1f}** | 100.0 | **{1000 * corrected_step:.1f}** | "
        f"100.0 | {sum(calls.values()):,.0f} | |",
        "",
        f"- **Time outside the recurrent and linear kernels: {100 * outside(seconds, step):.1f}%"
        f"** of the profiled step, **{100 * outside(corrected, corrected_step):.1f}%** with the "
        "profiler's cost removed (target: at most 20%)"
        + (
            f"; {100 * outside(corrected, corrected_step, (CHAR_CONV,)):.1f}% counting the char "
            "CNN's filter responses as a kernel too"
            if CHAR_CONV in seconds
            else ""
        )
        + f". Against the unprofiled step (data loading added), with the kernels as profiled: "
        f"{100 * outside(corrected, r['step_wall'] + corrected.get(DATA, 0.0)):.1f}% (the "
        "hooks' and the profiler's remaining cost fall on the many small operators outside the "
        "kernels, so the truth lies between the two).",
        f"- Without profiler and hooks the same {n} batches take {1000 * r['step_wall']:.1f} ms "
        f"wall ({1000 * r['step_cpu']:.1f} ms CPU) per step, data loading excluded (fastest of "
        f"the passes).",
        f"- Training step: **{r['tokens'] / r['step_wall']:,.0f} tokens/s** (wall, data loading "
        f"excluded). Bare kernels as the tagger runs them (word BiLSTM "
        f"{'dense' if r['padded'] == n else 'dense where the encoder runs padded, else packed'}"
        + (
            ", char BiLSTM dense in its two length buckets of the distinct spellings"
            if r["has_char_lstm"]
            else ""
        )
        + f", forward + backward): {r['tokens'] / r['bare_wall']:,.0f} tokens/s; "
        f"**ratio tagger / bare = {r['bare_wall'] / r['step_wall']:.2f}** "
        f"(CPU time: {r['bare_cpu'] / r['step_cpu']:.2f}; target at least 0.80)"
        + ("." if r["has_char_lstm"] else "; the char CNN is not in the bare kernels."),
        f"- Dense reference (word{' and char' if r['has_char_lstm'] else ''} BiLSTM each on one "
        f"dense block): {r['tokens'] / r['dense_wall']:,.0f} tokens/s; ratio tagger / dense = "
        f"{r['dense_wall'] / r['step_wall']:.2f} (CPU time: "
        f"{r['dense_cpu'] / r['step_cpu']:.2f})"
        + (
            f"; the distinct spellings' (U, L) grid is {100 * r['char_padding']:.0f}% padding."
            if r["char_padding"] is not None
            else "."
        ),
        "",
        "Busiest operators (self CPU time under the profiler):",
        "",
        "| operator | calls/step | % of self CPU |",
        "| --- | ---: | ---: |",
    ]
    for key, count, share in r["operators"]:
        lines.append(f"| `{key}` | {count:,.0f} | {100 * share:.1f} |")
    summary = {
        "step": step,
        "corrected_step": corrected_step,
        "outside": outside(seconds, step),
        "outside_corrected": outside(corrected, corrected_step),
        "ratio": r["bare_wall"] / r["step_wall"],
        "dense_ratio": r["dense_wall"] / r["step_wall"],
        "tokens_per_s": r["tokens"] / r["step_wall"],
    }
    return lines + [""], summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(TASKS), action="append", help="default: pos, ner")
    parser.add_argument("--warmup", type=int, default=5, help="unprofiled steps first")
    parser.add_argument("--steps", type=int, default=20, help="profiled steps")
    parser.add_argument("--repeat", type=int, default=3, help="unprofiled passes (fastest)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--batch-size",
        type=int,
        action="append",
        help="sentences per batch, each given size in turn (default: the config's)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the tables here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tasks = args.task or ["pos", "ner"]
    command = (
        "NLPTAG_DATA_DIR=../shared/data OMP_NUM_THREADS=1 python -m benchmarks.profile_step "
        + " ".join(f"--task {t}" for t in tasks)
        + f" --warmup {args.warmup} --steps {args.steps} --repeat {args.repeat} "
        f"--threads {args.threads}"
        + "".join(f" --batch-size {size}" for size in args.batch_size or [])
    )
    lines = [
        "## Training-step profile (issue 13, item 2)",
        "",
        f"`{command}`; {machine()}, {cpu_model()}, torch {torch.__version__}; commit "
        f"{commit()}, {today()}. Times are wall clock (torch.profiler's timeline; the machine's "
        "other core may be busy), the unprofiled ones also in CPU time.",
        "",
    ]
    summary = [
        "| config | profiled step (ms) | outside recurrent + linear kernels (profiled / cost "
        "removed) | training tokens/s | tagger / bare kernels | tagger / dense reference |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for task, batch_size in [(t, size) for t in tasks for size in args.batch_size or [None]]:
        title, config = TASKS[task]
        r = profile_task(config, args.warmup, args.steps, args.repeat, batch_size)
        section, figures = report(title, r)
        lines += section
        summary.append(
            f"| {title}{batch_label(r)} | {1000 * figures['step']:.1f} | "
            f"{100 * figures['outside']:.1f}% / "
            f"{100 * figures['outside_corrected']:.1f}% | {figures['tokens_per_s']:,.0f} | "
            f"{figures['ratio']:.2f} | {figures['dense_ratio']:.2f} |"
        )
        print("\n".join(section), flush=True)
    lines[4:4] = summary + [""]
    text = "\n".join(lines)
    print("\n".join(summary))
    if args.out:
        write_text_atomically(args.out, text)


if __name__ == "__main__":
    main()
