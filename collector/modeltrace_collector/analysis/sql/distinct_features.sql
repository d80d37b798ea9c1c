-- The features of a source, and whether a call gives one of them more than one row (then the
-- design effect of drift_design.sql applies; otherwise every row is a call of its own)
SELECT feature, count() > uniqExact(tag, call) AS repeated
FROM ({source})
GROUP BY feature
ORDER BY feature
