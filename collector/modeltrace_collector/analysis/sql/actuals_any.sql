-- Whether any ground truth of the model can pair with a call of the window (it arrives after the
-- call, a day of clock skew allowed): without any, the joins of performance_pairs are skipped.
SELECT count() > 0
FROM (
    SELECT 1 FROM {db}.ml_actuals
    WHERE ModelName = {model:String} AND Timestamp >= fromUnixTimestamp64Milli({start:Int64} - 86400000)
    LIMIT 1
)
