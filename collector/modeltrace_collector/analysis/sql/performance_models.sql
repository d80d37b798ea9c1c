-- The models with ground truth for predictions since the start parameter.
SELECT DISTINCT ModelName
FROM {db}.ml_actuals
WHERE Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND ({model:String} = '' OR ModelName = {model:String})
ORDER BY ModelName
