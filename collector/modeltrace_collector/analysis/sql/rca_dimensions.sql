-- Share of target calls and of normal calls (the baseline plus the window's non-target calls)
-- per value of every dimension the calls carry: version, host, batch size (power-of-two
-- buckets) and each resource attribute.
SELECT
    d.1 AS dimension,
    d.2 AS value,
    countIf(target) AS target_calls,
    countIf(NOT target) AS normal_calls,
    countIf(NOT in_window) AS baseline_calls,
    countIf(in_window) AS window_calls,
    quantileIf(0.99)(Duration, in_window) / 1e6 AS window_p99_ms,
    quantileIf(0.99)(Duration, NOT in_window) / 1e6 AS baseline_p99_ms,
    toUnixTimestamp64Milli(min(Timestamp)) AS first_seen_ms
FROM ({calls})
ARRAY JOIN arrayConcat(
    [('model.version', ModelVersion), ('host.name', HostName),
     ('input.rows', {ROWS_BUCKET})],
    arrayFilter(
        x -> x.1 != 'host.name' AND NOT match(x.1, '^(telemetry|process|os|service\\.name|service\\.version)'),
        arrayMap(k -> (k, ResourceAttributes[k]), mapKeys(ResourceAttributes)))
) AS d
GROUP BY dimension, value
