SELECT count()
FROM {db}.ml_predictions
WHERE ModelName = {model:String} AND ModelVersion = {version:String}
  AND Timestamp >= fromUnixTimestamp64Milli({s:Int64}) AND Timestamp < fromUnixTimestamp64Milli({e:Int64})
