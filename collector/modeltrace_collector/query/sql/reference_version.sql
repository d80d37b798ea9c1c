SELECT ModelVersion
FROM {db}.ml_references
WHERE ReferenceId = {id:String} AND ModelName = {model:String}
LIMIT 1
