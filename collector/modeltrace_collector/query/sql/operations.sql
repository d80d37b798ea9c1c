-- The operations of one model in [start, end), busiest first.
SELECT Operation AS operation, sum(Calls) AS calls
FROM {db}.ml_latency_minutes
WHERE ModelName = {model:String}
  AND Minute >= toDateTime(intDiv({start:Int64}, 1000), 'UTC') AND Minute < toDateTime(intDiv({end:Int64}, 1000), 'UTC')
GROUP BY operation
ORDER BY calls DESC
