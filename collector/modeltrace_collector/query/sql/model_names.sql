-- The names of every model with a stored call.
SELECT DISTINCT ModelName AS model
FROM {db}.ml_predictions
ORDER BY model
LIMIT 1000
