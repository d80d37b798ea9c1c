-- Categorical features (and numeric ones with at most 5 distinct values): counts per category
-- in the reference and the current window, then chi-square (as scipy's chi2_contingency on the
-- 2 x k table, Yates-corrected when k = 2), PSI with empty shares set to 1e-4 and the
-- Jensen-Shannon distance (natural log). New categories are those the reference never holds.
SELECT
    feature,
    sumIf(ref, NOT missing) AS n_ref,
    sumIf(cur, NOT missing) AS n_cur,
    sumIf(ref, missing) AS null_ref,
    sumIf(cur, missing) AS null_cur,
    groupArrayIf(assumeNotNull(category), NOT missing) AS categories,
    groupArrayIf(toFloat64(ref), NOT missing) AS ref_counts,
    groupArrayIf(toFloat64(cur), NOT missing) AS cur_counts,
    sumIf(cur, ref = 0 AND NOT missing) AS new_category_values,
    length(categories) AS k,
    n_ref + n_cur AS total,
    arrayMap((a, b) -> n_ref * (a + b) / total, ref_counts, cur_counts) AS exp_ref,
    arrayMap((a, b) -> n_cur * (a + b) / total, ref_counts, cur_counts) AS exp_cur,
    arraySum((o, e) -> pow(if(k = 2, o + sign(e - o) * least(0.5, abs(e - o)), o) - e, 2) / e, ref_counts, exp_ref)
      + arraySum((o, e) -> pow(if(k = 2, o + sign(e - o) * least(0.5, abs(e - o)), o) - e, 2) / e, cur_counts, exp_cur) AS chi2,
    k - 1 AS chi2_dof,
    arrayMap(x -> x / n_ref, ref_counts) AS p,
    arrayMap(x -> x / n_cur, cur_counts) AS q,
    {PSI} AS psi,
    {JS} AS js
FROM (
    SELECT feature, {category} AS category, category IS NULL AS missing, countIf(tag = 0) AS ref, countIf(tag = 1) AS cur
    FROM ({source})
    WHERE has({features:Array(String)}, feature)
    GROUP BY feature, category
)
GROUP BY feature
ORDER BY feature
