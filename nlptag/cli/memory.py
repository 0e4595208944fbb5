"""How a training process gets its memory from the C library.

glibc's ``malloc`` hands every allocation above a threshold (128 KiB, rising to at most 32 MiB
as it sees larger blocks freed) to the kernel with ``mmap`` and gives it back at ``free``. A
training step allocates the same large tensors at every step (activations, their gradients, the
(B·T, V) logits of a translation decoder: 2 MB per target position of a batch of 64 in
``configs/translation/multi30k_de_en.yaml``),
so each step maps fresh pages and faults every one of them in, which the kernel zeroes first:
37,594 page faults and 98 ms of system time in a 727 ms translation step on the 2-core AMD
EPYC of 2026-12-08 (``benchmarks/results/malloc_reuse.md``). :func:`reuse_freed_memory` tells
glibc to serve every allocation from its heap and to keep what is freed there for the next
step: the same arithmetic, with fewer page faults. The process keeps its peak memory until it
ends instead of returning it between steps.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1
"""``mallopt`` parameter: free memory at the top of the heap above this is given back."""
M_MMAP_MAX = -4
"""``mallopt`` parameter: the most blocks served by ``mmap`` at once (0: none)."""
KEEP = 2**31 - 1
"""The trim threshold set: the largest ``mallopt`` takes (2 GiB)."""
SWITCH = "NLPTAG_MALLOC"
"""Environment variable: ``default`` leaves glibc's behaviour as it is."""


def reuse_freed_memory() -> bool:
    """Serve every allocation of this process from glibc's heap and keep freed memory for
    reuse (see the module docstring); call it at the start of a training process.

    Returns:
        Whether it was applied: False where the C library has no ``mallopt`` (e.g. macOS) or
        refuses these settings, or where ``NLPTAG_MALLOC=default`` asks to leave it.
    """
    if os.environ.get(SWITCH, "").strip().lower() == "default":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, KEEP) == 1
