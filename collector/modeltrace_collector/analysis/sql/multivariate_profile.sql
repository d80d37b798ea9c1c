-- Per side (tag) and numeric feature: values, missing values, calls carrying it and the spread
-- of its present values; the multivariate test picks its features and its sample sizes from it.
-- A feature's rows in a call are numbered from 0 (an upload's rows are each a call with row 0),
-- so the calls carrying it are its values in row 0: a count, where uniqExact(call) costs more
-- than the rest of the query together.
SELECT
    tag,
    feature,
    count() AS n,
    countIf(isNaN(value)) AS nulls,
    countIf(row = 0) AS calls,
    stddevSampIf(value, NOT isNaN(value)) AS std
FROM ({source})
GROUP BY tag, feature
ORDER BY tag, feature
