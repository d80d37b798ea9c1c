-- Pass 2 over numeric features: the KS statistic and the exact 1-D Wasserstein distance from
-- one sort per feature, PSI and Jensen-Shannon over the reference's decile bins, and the count
-- of current values outside the reference's range. Only scalars and the two small histograms
-- leave the inner query: the sorted arrays never do.
--
-- KS and Wasserstein. Each value is turned into a UInt64 sort key that orders like the float
-- (sign bit flipped for positives, all bits for negatives) and carries the side in its lowest
-- bit (0 reference, 1 current); one integer sort per feature then orders both samples together.
-- Clearing that bit moves a value by at most one unit in the last place (a relative 2.2e-16).
-- Walking the sorted keys, the running sum of 1/n per reference value and -1/m per current one
-- is F_ref - F_cur. Both metrics use only the points where the next value is larger (the last of
-- a run of ties), as scipy does: KS is the largest |F_ref - F_cur| there and Wasserstein-1 the
-- integral of it, the sum of |F_ref - F_cur| times the gap to the next value. {ks_exact} adds
-- ClickHouse's exact KS p-value for small samples. The largest gap is arrayMax over arrayMap:
-- ClickHouse 24.8.0-24.8.4 ignore a lambda given to arrayMax itself and return the largest d.
--
-- Bins: a value falls in the bin numbered by how many of the reference's decile edges lie below
-- it. The edges come flattened, nine per feature, padded with +inf. One countResample counts
-- both histograms: slots 0-9 the reference's bins, 10-19 the current window's.
--
-- The WITH belongs to the query that reads feature, value and tag: ClickHouse 24.8 resolves the
-- names of a WITH in the query that holds it.
SELECT feature, n, m, ks_statistic, wasserstein, out_of_range, ks_exact, ref_hist, cur_hist, psi, js
FROM (
    WITH
        transform(feature, {features:Array(String)}, arrayEnumerate({features:Array(String)}), 0) AS feature_index,
        {edges:Array(Float64)} AS e,
        9 * (feature_index - 1) AS o,
        (e[o + 1] < value) + (e[o + 2] < value) + (e[o + 3] < value) + (e[o + 4] < value) + (e[o + 5] < value)
            + (e[o + 6] < value) + (e[o + 7] < value) + (e[o + 8] < value) + (e[o + 9] < value) AS bin,
        reinterpretAsUInt64(value) AS bits,
        bitOr(bitAnd(if(bitTest(bits, 63), bitNot(bits), bitOr(bits, 0x8000000000000000)), 0xFFFFFFFFFFFFFFFE), tag) AS sort_key
    SELECT
        feature,
        countIf(tag = 0) AS n,
        countIf(tag = 1) AS m,
        arraySort(groupArray(sort_key)) AS keys,
        arrayMap(k -> reinterpretAsFloat64(if(bitTest(k, 63), bitXor(bitAnd(k, 0xFFFFFFFFFFFFFFFE), 0x8000000000000000),
                                               bitNot(bitAnd(k, 0xFFFFFFFFFFFFFFFE)))), keys) AS xs,
        arrayPopBack(arrayCumSum(arrayMap(k -> if(bitAnd(k, 1) = 0, 1 / n, -1 / m), keys))) AS gap_cdf,
        arrayPopFront(arrayDifference(xs)) AS gaps,
        arrayMax(arrayMap((d, g) -> if(g > 0, abs(d), 0), gap_cdf, gaps)) AS ks_statistic,
        arraySum((d, g) -> abs(d) * g, gap_cdf, gaps) AS wasserstein,
        countIf(tag = 1 AND (value < {ref_min:Array(Float64)}[feature_index] OR value > {ref_max:Array(Float64)}[feature_index])) AS out_of_range,
        {ks_exact} AS ks_exact,
        {bins:Array(UInt8)}[any(feature_index)] AS bins,
        arraySlice(countResample(0, 20, 1)(tag * 10 + bin), 1, bins) AS ref_hist,
        arraySlice(countResample(0, 20, 1)(tag * 10 + bin), 11, bins) AS cur_hist,
        arrayMap(x -> x / n, ref_hist) AS p,
        arrayMap(x -> x / m, cur_hist) AS q,
        {PSI} AS psi,
        {JS} AS js
    FROM ({source})
    WHERE NOT isNaN(value) AND feature_index > 0
    GROUP BY feature
)
ORDER BY feature
