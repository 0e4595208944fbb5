"""What the CPU can do, for the choices a run makes on it (read from ``/proc/cpuinfo``)."""

from __future__ import annotations

from pathlib import Path

from nlptag.errors import NlptagError

BF16_FLAGS = {"avx512_bf16": "AVX-512 BF16", "amx_bf16": "AMX-BF16"}
"""The ``/proc/cpuinfo`` flags of x86 units that compute in bfloat16 natively; without one of
them PyTorch emulates bf16 on the CPU, which is slower than float32."""


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """The flags of the first CPU in ``cpuinfo``, or None when the file has none (not Linux, or
    not x86)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def cpu_bf16_units(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str] | None:
    """The native bf16 units of this CPU (e.g. ``["AVX-512 BF16", "AMX-BF16"]``; empty when it
    has none), or None when ``cpuinfo`` does not list flags (then nothing is claimed)."""
    flags = cpu_flags(cpuinfo)
    if flags is None:
        return None
    return [name for flag, name in BF16_FLAGS.items() if flag in flags]


def bf16_lstm_runs() -> bool:
    """Whether a dense (unpacked) LSTM runs under CPU bf16 autocast here: PyTorch sends it to
    oneDNN, which has no bf16 LSTM for some CPUs (e.g. AVX2-only AMD EPYC) and raises."""
    import torch

    lstm = torch.nn.LSTM(2, 2, batch_first=True)
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.zeros(1, 1, 2))
    except RuntimeError:
        return False
    return True


def cpu_bf16_check(precision: str | int | None, accelerator: str | None) -> str | None:
    """For a run that asks for bf16 on the CPU: raise NlptagError when the CPU cannot run
    nlptag's LSTMs in bf16, and return one line to print when it can but has no native bf16
    unit (emulated, slower than float32). None when there is nothing to say."""
    if "bf16" not in str(precision) or str(accelerator) not in ("cpu", "auto", "None"):
        return None
    if str(accelerator) != "cpu":
        import torch

        if torch.cuda.is_available():
            return None
    units = cpu_bf16_units()
    if not bf16_lstm_runs():
        raise NlptagError(
            f"--trainer.precision {precision}: PyTorch's bf16 LSTM (oneDNN) does not run on this "
            f"CPU ({cpu_model()}, no avx512_bf16 or amx_bf16 flag); use 32-true"
        )
    if units is None or units:
        return None
    return (
        f"nlptag: note: precision {precision} on a CPU without native bf16 (no avx512_bf16 or "
        "amx_bf16 flag in /proc/cpuinfo): PyTorch emulates bf16 here, slower than 32-true"
    )


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The model name of the first CPU in ``cpuinfo`` ("unknown CPU" without one)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return "unknown CPU"
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else "unknown CPU"
