-- One categorical feature's category counts in the reference (tag 0) and the current window
-- (tag 1); {category} turns a value into its category.
SELECT tag, {category} AS category, count() AS n
FROM ({source})
WHERE feature = {feature:String}
GROUP BY tag, category
ORDER BY n DESC
LIMIT 2000
