-- expect: 0
-- description: rows with a negative age or an age above 120
SELECT count_if(age < 0 OR age > 120)
FROM {{ database }}.{{ table }}
WHERE dt = '{{ ds }}'
