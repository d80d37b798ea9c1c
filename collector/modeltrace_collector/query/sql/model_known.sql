-- Whether a model has a stored call (the sort key's first column: a few granules).
SELECT count() > 0 AS known
FROM (SELECT 1 FROM {db}.ml_predictions WHERE ModelName = {model:String} LIMIT 1)
