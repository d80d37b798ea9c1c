-- Values of an uploaded reference (always tag 0); each value counts as its own call.
SELECT Feature AS feature, value, toUInt8(0) AS tag, rowNumberInAllBlocks() AS call, '' AS span
FROM {db}.ml_references FINAL
ARRAY JOIN {kind}Value AS value
WHERE ModelName = {model:String} AND ReferenceId = {reference_id:String} AND Side = {side:String}
