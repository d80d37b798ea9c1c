-- How much the rows of one call resemble each other, per feature and side (tag), for the design
-- effect of cluster sampling: rows sampled from one call (a batch shares its region, its numbers
-- lie near each other) are not independent observations.
--
-- Every value falls in a category ({category}: the value itself, or for a continuous feature the
-- number of the reference decile bin it falls in), and has a rank score ({rank}: that bin
-- number for a continuous feature, 0 otherwise). With c the count of a category in one call, n
-- the call's row count and s the sum of its rows' scores, per feature and side:
--   n        rows                      calls     sum of c / n (the number of calls)
--   sum_n2   sum over calls of n^2     within    sum over calls of sum(c^2) / n
--   between  sum over categories of their total^2
--   sum_r, sum_r2, within_r   sums of the scores, of their squares, and of s^2 / n per call
-- From these the Python side computes the intraclass correlation by one-way ANOVA, on the rank
-- scores for a continuous feature and on the category indicators otherwise (Light and
-- Margolin's categorical ANOVA), and Kish's effective sample size.
SELECT feature, tag, sum(cat_n) AS n, sum(cat_calls) AS calls, sum(cat_n2) AS sum_n2,
       sum(cat_within) AS within, sum(cat_n * cat_n) AS between,
       sum(cat_r) AS sum_r, sum(cat_r2) AS sum_r2, sum(cat_within_r) AS within_r
FROM (
    SELECT feature, tag, category, sum(c) AS cat_n, sum(c / call_n) AS cat_calls,
           sum(c * call_n) AS cat_n2, sum(c * c / call_n) AS cat_within,
           sum(c * r) AS cat_r, sum(c * r * r) AS cat_r2, sum(c * call_r * call_r / (call_n * call_n)) AS cat_within_r
    FROM (
        SELECT feature, tag, call, category, toFloat64(count()) AS c, toFloat64(any(rank)) AS r,
               sum(c) OVER (PARTITION BY feature, tag, call) AS call_n,
               sum(c * r) OVER (PARTITION BY feature, tag, call) AS call_r
        FROM (
            SELECT feature, tag, call, {category} AS category, {rank} AS rank
            FROM ({source})
            WHERE has({features:Array(String)}, feature)
        )
        WHERE category IS NOT NULL
        GROUP BY feature, tag, call, category
    )
    GROUP BY feature, tag, category
)
GROUP BY feature, tag
ORDER BY feature, tag
