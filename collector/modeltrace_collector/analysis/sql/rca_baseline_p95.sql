SELECT quantile(0.95)(Duration), count()
FROM {db}.ml_predictions
WHERE ModelName = {model:String} AND Operation = {operation:String}
  AND Timestamp >= fromUnixTimestamp64Milli({s:Int64}) AND Timestamp < fromUnixTimestamp64Milli({e:Int64})
