SELECT ReferenceId AS reference_id, ModelName AS model, ModelVersion AS version,
       any(Source) AS source, max(CreatedAt) AS created, groupArray(Side || '.' || Feature) AS features,
       max(length(NumValue) + length(CatValue)) AS rows
FROM {db}.ml_references FINAL
WHERE ({model:String} = '' OR ModelName = {model:String})
GROUP BY reference_id, model, version
ORDER BY created DESC
LIMIT 100
