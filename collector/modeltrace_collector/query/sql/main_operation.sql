-- the operation with the most calls of a model in a range (feedback spans aside)
SELECT Operation, count() AS calls
FROM {db}.ml_predictions
WHERE ModelName = {model:String} AND Operation != 'feedback'
  AND Timestamp >= fromUnixTimestamp64Milli({start:Int64}) AND Timestamp < fromUnixTimestamp64Milli({end:Int64})
GROUP BY Operation
ORDER BY calls DESC, Operation
LIMIT 1
