SELECT DISTINCT SpanName, SpanKind
FROM {db}.otel_traces
WHERE ServiceName = {service:String}
  AND ({kind:String} = '' OR SpanKind IN ({kind:String}, concat('SPAN_KIND_', upper({kind:String}))))
ORDER BY SpanName, SpanKind
