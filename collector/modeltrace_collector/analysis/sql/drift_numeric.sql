-- Pass 2 over numeric features: KS, exact 1-D Wasserstein, PSI and Jensen-Shannon over the
-- reference's decile bins (a value falls in the bin numbered by how many edges lie below it), and the count of current values
-- outside the reference's range.
--
-- Wasserstein-1 is the integral of |Q_ref(p) - Q_cur(p)| over p. With sorted samples r (n values)
-- and c (m values) the quantile functions are steps at i/n and j/m. Scaled by n*m the
-- breakpoints are the integers i*m and j*n, so each step's width and the indices of r and c it
-- pairs follow from integer division: no merge of the samples is needed. c_at_r repeats each c[j]
-- for the r-steps that start inside it, r_at_c the converse; lambdas only capture scalars.
WITH
    indexOf({features:Array(String)}, feature) AS feature_index,
    {edges:Array(Array(Float64))}[feature_index] AS feature_edges,
    arrayCount(e -> e < value, feature_edges) AS bin
SELECT
    feature,
    kolmogorovSmirnovTest('two-sided', '{ks_method}')(value, tag) AS ks,
    arraySort(groupArrayIf(value, tag = 0)) AS r,
    arraySort(groupArrayIf(value, tag = 1)) AS c,
    toUInt64(length(r)) AS n,
    toUInt64(length(c)) AS m,
    arrayFlatten(arrayMap((x, k) -> arrayResize([x], k, x), c,
        arrayMap(j -> intDiv((j + 1) * n + m - 1, m) - intDiv(j * n + m - 1, m), range(m)))) AS c_at_r,
    arrayFlatten(arrayMap((x, k) -> arrayResize([x], k, x), r,
        arrayMap(i -> intDiv((i + 1) * m + n - 1, n) - intDiv(i * m + n - 1, n), range(n)))) AS r_at_c,
    (arraySum((i, x, y) -> (least((i + 1) * m, (intDiv(i * m, n) + 1) * n) - i * m) * abs(x - y), range(n), r, c_at_r)
     + arraySum((j, x, y) -> if((j * n) % m = 0, 0, least((j + 1) * n, (intDiv(j * n, m) + 1) * m) - j * n) * abs(x - y),
                range(m), r_at_c, c)) / (n * m) AS wasserstein,
    sumMapIf([toUInt8(bin)], [toUInt64(1)], tag = 0) AS ref_bins,
    sumMapIf([toUInt8(bin)], [toUInt64(1)], tag = 1) AS cur_bins,
    arrayMap(i -> ref_bins.2[indexOf(ref_bins.1, toUInt8(i))], range(length(any(feature_edges)) + 1)) AS ref_hist,
    arrayMap(i -> cur_bins.2[indexOf(cur_bins.1, toUInt8(i))], range(length(any(feature_edges)) + 1)) AS cur_hist,
    arrayMap(x -> x / n, ref_hist) AS p,
    arrayMap(x -> x / m, cur_hist) AS q,
    {PSI} AS psi,
    {JS} AS js,
    countIf(tag = 1 AND (value < {ref_min:Array(Float64)}[feature_index] OR value > {ref_max:Array(Float64)}[feature_index])) AS out_of_range
FROM ({source})
WHERE NOT isNaN(value) AND feature_index > 0
GROUP BY feature
ORDER BY feature
