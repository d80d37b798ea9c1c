-- The window's farthest outlier calls, with their prediction ids and traces.
SELECT o.score AS score, o.worst AS feature, o.span AS span_id, p.TraceId AS trace_id, p.PredictionId AS prediction_id
FROM (SELECT span, score, worst FROM ({calls}) WHERE tag = 1 AND score > {z:Float64} ORDER BY score DESC LIMIT 5) AS o
LEFT JOIN (
    SELECT SpanId, TraceId, PredictionId FROM {db}.ml_predictions
    WHERE ModelName = {model:String}
      AND Timestamp >= fromUnixTimestamp64Milli({start_1:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end_1:Int64})
) AS p ON p.SpanId = o.span
ORDER BY score DESC
