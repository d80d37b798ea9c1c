-- The sampled values pivoted into rows: one line per (side, call, row) with the vector of the
-- chosen features in their given order (NaN where a row has no value for a feature). Ordered,
-- so that the same data gives the same sums to the last bit.
SELECT
    tag,
    call,
    min(ord) AS ord,
    groupArrayInsertAt(nan, {width:UInt32})(value, toUInt32(indexOf({features:Array(String)}, feature) - 1)) AS vec
FROM ({source})
WHERE has({features:Array(String)}, feature)
GROUP BY tag, call, row
ORDER BY tag, call, row
