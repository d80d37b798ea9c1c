-- Pass 1 over numeric features: sizes, nulls (NaN), distinct values (up to 6, enough to pick the
-- test), and the reference's decile edges, range and spread. The edges are reference order
-- statistics at floor(p * n), as quantileExact takes them. `repeated`: a call gives the feature
-- more than one row (only then is drift_design.sql needed).
SELECT
    feature,
    countIf(tag = 0 AND NOT isNaN(value)) AS n_ref,
    countIf(tag = 1 AND NOT isNaN(value)) AS n_cur,
    countIf(tag = 0 AND isNaN(value)) AS null_ref,
    countIf(tag = 1 AND isNaN(value)) AS null_cur,
    count() > uniqExact(tag, call) AS repeated,
    uniqUpToIf(6)(value, NOT isNaN(value)) AS distinct_values,
    arrayDistinct(quantilesExactIf(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)(value, tag = 0 AND NOT isNaN(value))) AS edges,
    minIf(value, tag = 0 AND NOT isNaN(value)) AS ref_min,
    maxIf(value, tag = 0 AND NOT isNaN(value)) AS ref_max,
    stddevPopIf(value, tag = 0 AND NOT isNaN(value)) AS ref_std,
    avgIf(value, tag = 0 AND NOT isNaN(value)) AS ref_mean,
    avgIf(value, tag = 1 AND NOT isNaN(value)) AS cur_mean
FROM ({source})
GROUP BY feature
ORDER BY feature
