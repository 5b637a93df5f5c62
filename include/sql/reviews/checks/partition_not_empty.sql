-- expect: > 0
-- description: rows in the day's partition (an empty batch must not flow downstream)
SELECT count(*)
FROM {{ database }}.{{ table }}
WHERE dt = '{{ ds }}'
