-- Open findings per model, version and kind.
SELECT ModelName AS model, ModelVersion AS version, Kind AS kind, count() AS n, max(Severity) AS severity
FROM {db}.ml_findings FINAL
WHERE ResolvedAt IS NULL AND ({model:String} = '' OR ModelName = {model:String})
GROUP BY model, version, kind
