-- calls matching two candidate causes at once: calls is rca_calls, match_a and match_b the
-- fixed condition of a dimension's value (the dimension and value are parameters); for a
-- categorical input, input_a / input_b join each call's most frequent value of it as ia.v / ib.v
SELECT countIf(target), countIf(NOT target), countIf(NOT in_window)
FROM ({calls}) AS c
{input_a}
{input_b}
WHERE {match_a} AND {match_b}
