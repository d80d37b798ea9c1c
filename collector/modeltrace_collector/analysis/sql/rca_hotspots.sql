-- Profiled self time per function in target calls and in baseline calls.
SELECT
    h.Function AS function,
    h.File AS file,
    p.target AS target,
    sum(h.SelfMs) AS self_ms,
    any(profiled.n) AS profiled_calls,
    any(profiled.parent_ms) AS parent_ms
FROM {db}.ml_hotspots AS h
INNER JOIN (SELECT TraceId, SpanId, target FROM ({calls}) WHERE ProfileSampled AND (target OR NOT in_window)) AS p
    ON h.TraceId = p.TraceId AND h.SpanId = p.SpanId
INNER JOIN (
    SELECT target, count() AS n, sum(Duration) / 1e6 AS parent_ms FROM ({calls})
    WHERE ProfileSampled AND (target OR NOT in_window) GROUP BY target
) AS profiled ON profiled.target = p.target
WHERE h.ModelName = {model:String}
  AND h.Timestamp >= fromUnixTimestamp64Milli({base_start:Int64}) AND h.Timestamp < fromUnixTimestamp64Milli({win_end:Int64})
GROUP BY function, file, target
