"""/metrics is Prometheus text that Prometheus' own parser reads back exactly."""

from prometheus_client.parser import text_string_to_metric_families

from modeltrace_collector.metrics import Metrics


def samples(text):
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_keep_every_digit_and_odd_label_values_survive():
    m = Metrics()
    m.inc("spans_stored", 1_234_567)
    m.inc("spans_received", 9_007_199_254_740_000)
    m.inc("write_seconds_sum", 0.123456789)
    cause = 'a "quoted"\\ cause\nwith a newline'
    m.inc("dead_letters", 3, cause=cause)
    m.gauge("spool_bytes", lambda: 7)
    m.gauge("broken", lambda: 1 / 0)  # a gauge that fails is left out, not the whole page
    m.gauge("unknown", lambda: float("nan"))
    m.labelled_gauge("dead_letters_stored", "cause", "held", lambda: {cause: 2, "x": 1})
    got = samples(m.render())
    assert got[("modeltrace_spans_stored_total", ())] == 1_234_567
    assert got[("modeltrace_spans_received_total", ())] == 9_007_199_254_740_000
    assert got[("modeltrace_write_seconds_sum", ())] == 0.123456789
    assert got[("modeltrace_dead_letters_total", (("cause", cause),))] == 3
    assert got[("modeltrace_dead_letters_stored", (("cause", cause),))] == 2
    assert got[("modeltrace_spool_bytes", ())] == 7
    assert got[("modeltrace_unknown", ())] != got[("modeltrace_unknown", ())]  # NaN
    assert ("modeltrace_broken", ()) not in got
