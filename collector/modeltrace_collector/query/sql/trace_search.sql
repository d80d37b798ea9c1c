-- traces with a span matching the conditions, newest first; the conditions are built from a fixed
-- list of filters whose values are typed parameters
SELECT TraceId, toUnixTimestamp64Nano(min(Timestamp)) AS first,
       max(toUnixTimestamp64Nano(Timestamp) + Duration) AS last
FROM {db}.otel_traces
WHERE {conditions}
GROUP BY TraceId
ORDER BY last DESC, TraceId
LIMIT {limit:UInt32} OFFSET {offset:UInt64}
