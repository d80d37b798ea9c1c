-- the newest uploaded reference of this version, else of the model as a whole (version '')
SELECT ModelVersion, ReferenceId, max(CreatedAt) AS created
FROM {db}.ml_references
WHERE ModelName = {model:String} AND ModelVersion IN ({version:String}, '')
GROUP BY ModelVersion, ReferenceId
ORDER BY ModelVersion = {version:String} DESC, created DESC
LIMIT 1
