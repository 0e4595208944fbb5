"""Training steps with glibc's default memory handling against nlptag's (``reuse_freed_memory``).

For each config, two fresh processes per round (``NLPTAG_MALLOC=default`` first, then nlptag's
default, which keeps freed memory in the heap: :mod:`nlptag.cli.memory`) run the same training
steps on the same batches, as ``nlptag fit`` runs them (``training_step``, ``zero_grad``,
``backward``, clipping at the config's ``gradient_clip_val``, the optimizer step), on one torch
thread, after warm-up steps. Each process reports wall and CPU ms per step, the system part of
the CPU time, minor page faults per step and its peak resident memory; the faster of the rounds
is kept per mode (``benchmarks.common.FitStep``). Both modes run the same arithmetic: the
benchmark checks that the final loss is the same bit for bit.

    NLPTAG_DATA_DIR=../shared/data python -m benchmarks.malloc_reuse \
        --out benchmarks/results/malloc_reuse.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import commit, cpu_model, today
from nlptag.files import write_text_atomically

CONFIGS = {
    "translation": ("configs/translation/multi30k_de_en.yaml", 40),
    "pos": ("configs/pos/ud_ewt.yaml", 60),
    "ner": ("configs/ner/conll2003.yaml", 200),
}
"""Name -> (config, timed steps)."""
WARMUP = 10
MODES = ("glibc default", "nlptag (heap reuse)")


def run_steps(config: str, steps: int) -> dict:
    """In this process: ``WARMUP`` then ``steps`` training steps; their costs per step."""
    import torch

    from benchmarks.common import FitStep
    from nlptag.cli.memory import reuse_freed_memory

    applied = reuse_freed_memory()  # FitStep applies it too; this reports whether it could
    torch.set_num_threads(1)
    torch.manual_seed(1)
    fit_step = FitStep(config)
    batches = iter(fit_step.data.train_dataloader())
    batches = [next(batches) for _ in range(WARMUP + steps)]
    for index in range(WARMUP):
        fit_step(batches[index], index)
    before, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for index in range(WARMUP, WARMUP + steps):
        loss = fit_step(batches[index], index)
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall
    return {
        "applied": applied,
        "wall_ms": wall / steps * 1000,
        "cpu_ms": (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        / steps
        * 1000,
        "sys_ms": (after.ru_stime - before.ru_stime) / steps * 1000,
        "faults": (after.ru_minflt - before.ru_minflt) / steps,
        "peak_mib": after.ru_maxrss / 1024,
        "loss": float(loss),
    }


def child(name: str, mode: str) -> dict:
    config, steps = CONFIGS[name]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    environment.pop("NLPTAG_MALLOC", None)
    if mode == MODES[0]:
        environment["NLPTAG_MALLOC"] = "default"
    command = [sys.executable, "-m", "benchmarks.malloc_reuse", "--child", name]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=list(CONFIGS), action="append", help="default: all")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", choices=list(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_steps(*CONFIGS[args.child])))
        return
    lines = [
        "`NLPTAG_DATA_DIR=../shared/data python -m benchmarks.malloc_reuse`; one torch thread, "
        f"{WARMUP} warm-up steps, fastest of {args.rounds} rounds per mode (each a fresh "
        f"process); {cpu_model()}, commit {commit()}, {today()}",
        "",
        "| config | timed steps | memory | ms/step (wall) | ms/step (CPU) | of which system "
        "| page faults/step | peak RSS (MiB) | speed-up |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rounds = []
    for name in args.config or list(CONFIGS):
        best, walls = {}, {mode: [] for mode in MODES}
        for _ in range(args.rounds):
            for mode in MODES:
                result = child(name, mode)
                print(name, mode, result, file=sys.stderr)
                walls[mode].append(f"{result['wall_ms']:,.1f}")
                if mode not in best or result["wall_ms"] < best[mode]["wall_ms"]:
                    best[mode] = result
        rounds.append(f"- `{name}`: " + "; ".join(f"{m} {', '.join(w)}" for m, w in walls.items()))
        default, reused = best[MODES[0]], best[MODES[1]]
        if not reused["applied"] or default["applied"]:
            raise SystemExit("malloc_reuse: glibc's mallopt is not available here")
        if default["loss"] != reused["loss"]:
            raise SystemExit(f"malloc_reuse: {name}: the losses differ, the arithmetic changed")
        config, steps = CONFIGS[name]
        for mode, result in best.items():
            speedup = default["wall_ms"] / result["wall_ms"]
            lines.append(
                f"| `{config}` | {steps} | {mode} | {result['wall_ms']:,.0f} | "
                f"{result['cpu_ms']:,.0f} | {result['sys_ms']:,.1f} | {result['faults']:,.0f} | "
                f"{result['peak_mib']:,.0f} | {speedup:.2f} |"
            )
    lines += ["", "Wall ms per step in each round, in the order run:", "", *rounds]
    table = "\n".join(lines) + "\n"
    if args.out:
        write_text_atomically(args.out, table)
    print(table)


if __name__ == "__main__":
    main()
