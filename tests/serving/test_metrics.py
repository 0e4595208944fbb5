from nlptag.serving.metrics import BATCH_BUCKETS, Counter, Histogram, ServerMetrics


def test_a_counter_adds_per_label_combination_and_renders_sorted():
    counter = Counter("x_total", "Things.", ("model", "code"))
    counter.inc("m", "500")
    counter.inc("a", "200", amount=2)
    counter.inc("m", "500", amount=0.5)
    assert counter.get("m", "500") == 1.5
    assert counter.get("never", "seen") == 0.0
    assert counter.render() == [
        "# HELP x_total Things.",
        "# TYPE x_total counter",
        'x_total{model="a",code="200"} 2',
        'x_total{model="m",code="500"} 1.5',
    ]


def test_label_values_are_escaped():
    counter = Counter("x_total", "Things.", ("model",))
    counter.inc('a"b\\c\nd')
    assert counter.render()[2] == 'x_total{model="a\\"b\\\\c\\nd"} 1'


def test_a_counter_without_labels_has_no_braces():
    counter = Counter("up_total", "Up.")
    counter.inc()
    assert counter.render()[2] == "up_total 1"


def test_histogram_buckets_are_cumulative_and_a_bound_is_inclusive():
    histogram = Histogram("h", "Sizes.", (1, 2.5, 4), ("model",))
    for value in (1, 1, 2.5, 3, 7):
        histogram.observe(value, "m")
    assert histogram.count("m") == 5
    assert histogram.count("other") == 0
    assert histogram.render() == [
        "# HELP h Sizes.",
        "# TYPE h histogram",
        'h_bucket{model="m",le="1"} 2',
        'h_bucket{model="m",le="2.5"} 3',
        'h_bucket{model="m",le="4"} 4',
        'h_bucket{model="m",le="+Inf"} 5',
        'h_sum{model="m"} 14.5',
        'h_count{model="m"} 5',
    ]


def test_server_metrics_render_every_family_in_order_ending_with_a_newline():
    metrics = ServerMetrics()
    metrics.requests.inc("tagger", "200")
    metrics.batch_size.observe(3, "tagger")
    text = metrics.render()
    assert text.endswith("\n")
    lines = text.splitlines()
    types = [line for line in lines if line.startswith("# TYPE")]
    assert types == [
        "# TYPE nlptag_requests_total counter",
        "# TYPE nlptag_errors_total counter",
        "# TYPE nlptag_batch_size histogram",
        "# TYPE nlptag_request_latency_seconds histogram",
    ]
    assert 'nlptag_requests_total{model="tagger",code="200"} 1' in lines
    buckets = [line for line in lines if line.startswith("nlptag_batch_size_bucket")]
    assert len(buckets) == len(BATCH_BUCKETS) + 1
    assert buckets[:3] == [
        'nlptag_batch_size_bucket{model="tagger",le="1"} 0',
        'nlptag_batch_size_bucket{model="tagger",le="2"} 0',
        'nlptag_batch_size_bucket{model="tagger",le="4"} 1',
    ]
    assert not any(line.startswith("nlptag_request_latency_seconds_") for line in lines)
