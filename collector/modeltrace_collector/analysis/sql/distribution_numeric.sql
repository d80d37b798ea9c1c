-- One numeric feature's reference (tag 0) and current (tag 1) values in equal bins over
-- [lo, hi) (values outside fall in the end bins), with the NaN (null) counts.
SELECT tag,
       if(isNaN(value), -1, toInt32(least(greatest(floor((value - {lo:Float64}) / {width:Float64}), 0), {bins:UInt16} - 1))) AS bin,
       count() AS n
FROM ({source})
WHERE feature = {feature:String}
GROUP BY tag, bin
ORDER BY tag, bin
