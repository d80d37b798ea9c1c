-- The conditions of a call search (a fragment of calls_find and calls_histogram): time range,
-- model, version, operation, status and an attribute of the span or its resource.
Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
  AND ({model:String} = '' OR ModelName = {model:String})
  AND ({version:String} = '' OR ModelVersion = {version:String})
  AND ({operation:String} = '' OR Operation = {operation:String})
  AND ({status:String} = ''
       OR ({status:String} = 'error' AND StatusCode IN ('Error', 'STATUS_CODE_ERROR'))
       OR ({status:String} = 'ok' AND StatusCode NOT IN ('Error', 'STATUS_CODE_ERROR')))
  AND ({attr_key:String} = '' OR SpanId IN (
        SELECT SpanId FROM {db}.otel_traces
        WHERE Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
          -- a key the span lacks reads as '': it must be there to match
          AND ((mapContains(SpanAttributes, {attr_key:String}) AND SpanAttributes[{attr_key:String}] = {attr_value:String})
               OR (mapContains(ResourceAttributes, {attr_key:String})
                   AND ResourceAttributes[{attr_key:String}] = {attr_value:String}))))
