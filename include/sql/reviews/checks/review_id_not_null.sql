-- expect: 0
-- description: rows without a review_id (the primary key)
SELECT count(*)
FROM {{ database }}.{{ table }}
WHERE dt = '{{ ds }}'
  AND review_id IS NULL
