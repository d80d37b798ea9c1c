-- Values of an uploaded reference (always tag 0); each value counts as its own call (its place
-- in the feature's array: rowNumberInAllBlocks() repeats after an ARRAY JOIN in ClickHouse 24.8).
-- {sides} and {feature} as in values_window.sql.
SELECT {feature} AS feature, value, toUInt8(0) AS tag, toUInt64(i) AS call, '' AS span
FROM {db}.ml_references FINAL
ARRAY JOIN {kind}Value AS value, arrayEnumerate({kind}Value) AS i
WHERE ModelName = {model:String} AND ReferenceId = {reference_id:String} AND {sides}
