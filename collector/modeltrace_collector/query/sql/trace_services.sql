SELECT DISTINCT ServiceName
FROM {db}.otel_traces
WHERE ServiceName != ''
ORDER BY ServiceName
