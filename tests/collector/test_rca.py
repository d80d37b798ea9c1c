"""Ranking details of the root-cause analysis."""

from modeltrace_collector.analysis.rca import _merge_twins


def cause(kind: str, dim: str, value: str, t: float, n: float) -> dict:
    return {"type": kind, "dimension": dim, "value": value, "target_share": t, "normal_share": n,
            "evidence": f"{dim}={value}"}  # fmt: skip


def test_an_attribute_splitting_the_calls_like_a_better_cause_is_folded_into_it():
    ranked = [
        cause("change", "model.version + host.name", "2.0 + node-b", 171 / 174, 3 / 1430),
        cause("change", "model.version", "2.0", 1.0, 0.2),
        cause("attribute", "service.instance.id", "c608910c", 171 / 174, 3 / 1430),
        cause("attribute", "host.name", "node-b", 171 / 174, 0.5),
    ]
    out = _merge_twins(ranked)
    assert [c["value"] for c in out] == ["2.0 + node-b", "2.0", "node-b"]
    assert out[0]["same_calls"] == ["service.instance.id=c608910c"]
    assert out[0]["evidence"].endswith("(the same calls as service.instance.id=c608910c)")
    # a change event is never folded, even when its split matches
    assert len(_merge_twins([ranked[0], {**ranked[2], "type": "change"}])) == 2
