-- Quantiles over every call (profiled ones too) of the given model versions in [start, end),
-- totals (bucket = -1) and per bucket: the versions whose calls cProfile mostly sampled.
SELECT ModelName AS model, ModelVersion AS version,
       if(grouping(bucket) = 1, -1, bucket) AS bucket_no,
       quantilesTDigestMerge(0.5, 0.95, 0.99)(Durations) AS q
FROM {db}.ml_latency_minutes
WHERE Minute >= toDateTime(intDiv({start:Int64}, 1000), 'UTC') AND Minute < toDateTime(intDiv({end:Int64}, 1000), 'UTC')
  AND ModelName IN {models:Array(String)} AND (ModelName, ModelVersion) IN {pairs:Array(Tuple(String, String))}
GROUP BY GROUPING SETS ((model, version), (model, version, intDiv(toUnixTimestamp(Minute) - intDiv({start:Int64}, 1000), {step:UInt32}) AS bucket))
