SELECT DISTINCT ModelName, ModelVersion
FROM {db}.ml_features
WHERE Timestamp >= fromUnixTimestamp64Milli({s:Int64}) AND Timestamp < fromUnixTimestamp64Milli({e:Int64})
  AND ({model:String} = '' OR ModelName = {model:String})
ORDER BY ModelName, ModelVersion
