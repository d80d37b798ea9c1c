-- Per call with ground truth: whether any of its rows was predicted wrong (a classifier) and
-- the mean absolute residual of its rows (a regressor; NULL when the values are not numbers).
SELECT span, max(predicted != actual) AS wrong, avg(abs(predicted_num - actual_num)) AS abs_error
FROM ({pairs})
GROUP BY span
