SELECT ModelVersion, toUnixTimestamp64Milli(min(Timestamp))
FROM {db}.ml_predictions
WHERE ModelName = {model:String}
GROUP BY ModelVersion
