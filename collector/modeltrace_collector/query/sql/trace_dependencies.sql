-- (parent service, child service, calls): spans whose parent span belongs to another service
SELECT p.ServiceName AS parent, c.ServiceName AS child, count() AS calls
FROM {db}.otel_traces AS c
INNER JOIN (
    SELECT TraceId, SpanId, ServiceName
    FROM {db}.otel_traces
    WHERE Timestamp >= fromUnixTimestamp64Nano({start:Int64}) - toIntervalHour(1)
      AND Timestamp <= fromUnixTimestamp64Nano({end:Int64})
) AS p ON c.TraceId = p.TraceId AND c.ParentSpanId = p.SpanId
WHERE c.Timestamp >= fromUnixTimestamp64Nano({start:Int64})
  AND c.Timestamp <= fromUnixTimestamp64Nano({end:Int64})
  AND c.ParentSpanId != '' AND p.ServiceName != c.ServiceName
GROUP BY parent, child
ORDER BY parent, child
