"""The CPU's native bf16 units, and the one-line note a bf16 run prints on a CPU without them."""

import pytest
import torch

import nlptag.cli.hardware as hardware
from nlptag.cli.hardware import cpu_bf16_check, cpu_bf16_units
from nlptag.errors import NlptagError
from tests.test_cli import fit_demo

FLAGS = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 {extra}\n\nprocessor\t: 1\n"


@pytest.mark.parametrize(
    "extra, units",
    [
        ("", []),
        ("avx512f avx512_bf16", ["AVX-512 BF16"]),
        ("avx512_bf16 amx_tile amx_bf16 amx_int8", ["AVX-512 BF16", "AMX-BF16"]),
        ("amx_bf16", ["AMX-BF16"]),
    ],
)
def test_bf16_units_are_read_from_the_flags_line(tmp_path, extra, units):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(FLAGS.format(extra=extra))
    assert cpu_bf16_units(cpuinfo) == units


def test_no_flags_line_claims_nothing(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nCPU implementer\t: 0x41\n")
    assert cpu_bf16_units(cpuinfo) is None
    assert cpu_bf16_units(tmp_path / "missing") is None


def test_the_note_is_only_for_bf16_on_a_cpu_without_bf16(monkeypatch):
    monkeypatch.setattr(hardware, "bf16_lstm_runs", lambda: True)
    monkeypatch.setattr(hardware, "cpu_bf16_units", lambda: [])
    note = cpu_bf16_check("bf16-mixed", "cpu")
    assert note.startswith("nlptag: note: precision bf16-mixed on a CPU without native bf16")
    assert cpu_bf16_check("bf16-true", "cpu") is not None
    assert cpu_bf16_check("32-true", "cpu") is None
    assert cpu_bf16_check("16-mixed", "cpu") is None
    assert cpu_bf16_check("bf16-mixed", "gpu") is None
    monkeypatch.setattr(hardware, "cpu_bf16_units", lambda: ["AMX-BF16"])
    assert cpu_bf16_check("bf16-mixed", "cpu") is None
    monkeypatch.setattr(hardware, "cpu_bf16_units", lambda: None)
    assert cpu_bf16_check("bf16-mixed", "cpu") is None


def test_a_cpu_whose_lstm_cannot_run_bf16_is_refused(monkeypatch):
    monkeypatch.setattr(hardware, "bf16_lstm_runs", lambda: False)
    with pytest.raises(NlptagError, match=r"^--trainer.precision bf16-mixed: PyTorch's bf16 LSTM"):
        cpu_bf16_check("bf16-mixed", "cpu")
    assert cpu_bf16_check("32-true", "cpu") is None


def test_the_probe_tells_what_a_dense_bf16_lstm_does_here():
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.LSTM(3, 2, batch_first=True)(torch.zeros(2, 4, 3))
        runs = True
    except RuntimeError:
        runs = False
    assert hardware.bf16_lstm_runs() is runs


def test_a_bf16_fit_on_this_cpu_runs_or_stops_in_one_line(tmp_path, capsys):
    status = fit_demo(tmp_path / "run", "--trainer.precision=bf16-mixed", "--trainer.max_epochs=1")
    err = capsys.readouterr().err
    if hardware.bf16_lstm_runs():
        assert status == 0
        assert err.count("nlptag: note: precision bf16-mixed") == (
            0 if hardware.cpu_bf16_units() else 1
        )
    else:
        assert status == 2 and "Traceback" not in err
        assert err.startswith("nlptag: error: --trainer.precision bf16-mixed: PyTorch's bf16 LSTM")
        assert not (tmp_path / "run" / "checkpoints").exists()
