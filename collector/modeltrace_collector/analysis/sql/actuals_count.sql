SELECT count()
FROM {db}.ml_actuals
WHERE ModelName = {model:String}
  AND Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
