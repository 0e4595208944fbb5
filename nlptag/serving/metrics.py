"""Counters and histograms per model, written in the Prometheus text exposition format (0.0.4).

Only what the server needs: monotonically increasing counters and cumulative histograms, keyed
by label values, guarded by one lock (observations come from the event loop and the inference
threads).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Sequence

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds in seconds of the request latency histogram."""
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
"""Upper bounds of the batch size histogram (inputs per forward pass)."""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{name}="{_escape(str(value))}"' for name, value in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    """A counter per combination of label values.

    Args:
        name: the metric name (``_total`` is part of it).
        help_text: the ``# HELP`` line.
        label_names: the names of the labels, in order.
    """

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.help_text = help_text
        self.label_names = tuple(label_names)
        self.values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        with self._lock:
            self.values[label_values] = self.values.get(label_values, 0.0) + amount

    def get(self, *label_values: str) -> float:
        with self._lock:
            return self.values.get(label_values, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} counter"]
        with self._lock:
            for key, value in sorted(self.values.items()):
                lines.append(f"{self.name}{_labels(self.label_names, key)} {_number(value)}")
        return lines


class Histogram:
    """A cumulative histogram per combination of label values.

    Args:
        name: the metric name.
        help_text: the ``# HELP`` line.
        buckets: increasing upper bounds; ``+Inf`` is added.
        label_names: the names of the labels, in order.
    """

    def __init__(
        self,
        name: str,
        help_text: str,
        buckets: Sequence[float],
        label_names: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.help_text = help_text
        self.buckets = tuple(buckets)
        self.label_names = tuple(label_names)
        self.counts: dict[tuple[str, ...], list[int]] = {}
        self.sums: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def observe(self, value: float, *label_values: str) -> None:
        with self._lock:
            counts = self.counts.setdefault(label_values, [0] * (len(self.buckets) + 1))
            counts[bisect_left(self.buckets, value)] += 1
            self.sums[label_values] = self.sums.get(label_values, 0.0) + value

    def count(self, *label_values: str) -> int:
        with self._lock:
            return sum(self.counts.get(label_values, ()))

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for key in sorted(self.counts):
                cumulative = 0
                bounds = [_number(b) for b in self.buckets] + ["+Inf"]
                for bound, count in zip(bounds, self.counts[key]):
                    cumulative += count
                    labels = _labels(self.label_names, key, f'le="{bound}"')
                    lines.append(f"{self.name}_bucket{labels} {cumulative}")
                labels = _labels(self.label_names, key)
                lines.append(f"{self.name}_sum{labels} {_number(self.sums[key])}")
                lines.append(f"{self.name}_count{labels} {cumulative}")
        return lines


class ServerMetrics:
    """The server's metrics: requests and errors by model, batch sizes, latency."""

    def __init__(self) -> None:
        self.requests = Counter(
            "nlptag_requests_total", "Predict requests by model and HTTP status.", ("model", "code")
        )
        self.errors = Counter(
            "nlptag_errors_total",
            "Predict requests that failed, by model and kind.",
            ("model", "kind"),
        )
        self.batch_size = Histogram(
            "nlptag_batch_size", "Inputs per forward pass.", BATCH_BUCKETS, ("model",)
        )
        self.latency = Histogram(
            "nlptag_request_latency_seconds",
            "Predict request latency, body received to response ready.",
            LATENCY_BUCKETS,
            ("model",),
        )

    def render(self) -> str:
        lines: list[str] = []
        for metric in (self.requests, self.errors, self.batch_size, self.latency):
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
