-- calls matching two candidate causes at once: calls is rca_calls, match_a and match_b the
-- fixed condition of a dimension's value (the dimension and value are parameters)
SELECT countIf(target), countIf(NOT target), countIf(NOT in_window)
FROM ({calls})
WHERE {match_a} AND {match_b}
