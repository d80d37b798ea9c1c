SELECT DISTINCT arrayJoin(arrayConcat(NumFeature, CatFeature))
FROM {db}.ml_features
WHERE ModelName = {model:String} AND Side = 'output'
  AND Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
LIMIT 50
