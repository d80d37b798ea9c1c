-- Child spans (steps, nested model calls) of target calls and of baseline calls: how many parents
-- each set has, their mean duration, and per child name the mean time it takes per parent.
SELECT
    c.SpanName AS step,
    p.target AS target,
    sum(c.Duration) / 1e6 AS child_ms,
    any(parents.n) AS parents,
    any(parents.parent_ms) AS parent_ms
FROM {db}.otel_traces AS c
INNER JOIN (SELECT TraceId, SpanId, target, in_window FROM ({calls}) WHERE target OR NOT in_window) AS p
    ON c.TraceId = p.TraceId AND c.ParentSpanId = p.SpanId
INNER JOIN (
    SELECT target, count() AS n, sum(Duration) / 1e6 AS parent_ms FROM ({calls}) WHERE target OR NOT in_window GROUP BY target
) AS parents ON parents.target = p.target
WHERE c.Timestamp >= fromUnixTimestamp64Milli({base_start:Int64}) AND c.Timestamp < fromUnixTimestamp64Milli({win_end:Int64}) + toIntervalMinute(10)
GROUP BY step, target
