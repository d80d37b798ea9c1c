-- Predictions joined with their ground truth, row by row: the output sample's prediction
-- field (and score, when the model emits one) against ml_actuals, for calls whose sample holds
-- every output row so that rows line up. The joins sit in a sub-query and the rows are unrolled
-- outside it: ClickHouse before 26.9 can run without the analyzer (enable_analyzer = 0), and
-- then refuses an ARRAY JOIN in a query with more than one JOIN.
SELECT
    version,
    bucket_ms,
    span,
    ts_ms,
    row.1 AS predicted,
    row.2 AS actual,
    toFloat64OrNull(row.1) AS predicted_num,
    toFloat64OrNull(row.2) AS actual_num,
    row.3 AS score
FROM (
    SELECT
        p.ModelVersion AS version,
        p.SpanId AS span,
        toUnixTimestamp64Milli(p.Timestamp) AS ts_ms,
        intDiv(toUnixTimestamp64Milli(p.Timestamp), {bucket_ms:Int64}) * {bucket_ms:Int64} AS bucket_ms,
        arrayFilter((v, f) -> f = {pred_field:String}, o.NumValue, o.NumFeature) AS pred_num,
        arrayFilter((v, f) -> f = {pred_field:String}, o.CatValue, o.CatFeature) AS pred_cat,
        arrayFilter((v, f) -> f = {score_field:String}, o.NumValue, o.NumFeature) AS scores,
        if(length(pred_cat) > 0, arrayMap(x -> ifNull(x, ''), pred_cat), arrayMap(x -> toString(x), pred_num)) AS pred_str,
        if(length(a.CatValue) > 0, arrayMap(x -> ifNull(x, ''), a.CatValue), arrayMap(x -> toString(x), a.NumValue)) AS actual_str
    FROM {db}.ml_predictions AS p
    INNER JOIN {db}.ml_features AS o ON o.SpanId = p.SpanId
    INNER JOIN {db}.ml_actuals AS a ON a.PredictionId = p.PredictionId
    WHERE p.ModelName = {model:String} AND o.ModelName = {model:String} AND a.ModelName = {model:String}
      AND o.Side = 'output' AND p.PredictionId != ''
      AND length(pred_str) = length(actual_str) AND length(pred_str) > 0
      AND p.Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND p.Timestamp < fromUnixTimestamp64Milli({end:Int64})
      -- a call's output rows carry its own time, and its ground truth comes later (a day of
      -- clock skew allowed): the range keeps the joins to the window's parts
      AND o.Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND o.Timestamp < fromUnixTimestamp64Milli({end:Int64})
      AND a.Timestamp >= fromUnixTimestamp64Milli({start:Int64} - 86400000)
)
ARRAY JOIN arrayZip(pred_str, actual_str, if(length(scores) = length(pred_str), scores, arrayResize([nan], length(pred_str), nan))) AS row
