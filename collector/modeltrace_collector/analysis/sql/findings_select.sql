-- columns: the finding's columns; where: conditions from a fixed list, values as parameters
SELECT {columns}
FROM {db}.ml_findings FINAL
WHERE {where}
ORDER BY OpenedAt DESC
LIMIT {limit:UInt32}
