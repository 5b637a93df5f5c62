-- expect: 0
-- description: rows whose rating is outside 1..5 (the data set's star scale)
SELECT count_if(rating < 1 OR rating > 5)
FROM {{ database }}.{{ table }}
WHERE dt = '{{ ds }}'
