SELECT version, bucket_ms, count() AS n,
       avg(abs(predicted_num - actual_num)) AS mae,
       sqrt(avg(pow(predicted_num - actual_num, 2))) AS rmse
FROM ({pairs})
WHERE predicted_num IS NOT NULL AND actual_num IS NOT NULL
GROUP BY version, bucket_ms
ORDER BY version, bucket_ms
